"""The Device drop-down of Settings, Recognise and Adapt: auto, cpu, mps, cuda, one
``cuda:N`` per GPU torch sees, the current value, and any name typed in it that
``engine.settings.check_setting`` accepts (so ``cuda:1`` works here as in the CLI)."""

from typing import Callable, Optional

from magicgui.widgets import ComboBox

from ..engine.api import check_setting, cuda_device_count

BASE_DEVICES = ("auto", "cpu", "mps", "cuda")


def device_choices(*extra: str) -> list[str]:
    """The device names offered: the base ones, ``cuda:0..N-1``, then ``extra``."""
    names = [*BASE_DEVICES, *(f"cuda:{i}" for i in range(cuda_device_count()))]
    return names + [e for e in dict.fromkeys(extra) if e and e not in names]


def set_device(combo: ComboBox, name: str) -> str:
    """Select ``name`` (validated, added to the choices when new); returns it."""
    name = check_setting("device", name)
    if name not in combo.choices:
        combo.choices = device_choices(*combo.choices, name)
    combo.value = name
    return name


def device_combo(label: str, value: str, tooltip: str = "",
                 on_refused: Optional[Callable[[str], None]] = None) -> ComboBox:
    """An editable device ComboBox starting at ``value``; a typed name is validated when
    editing ends (Enter or leaving the field): taken when valid, else the previous
    value comes back and ``on_refused(message)`` is called."""
    combo = ComboBox(label=label, choices=device_choices(value), value=value,
                     tooltip=tooltip or "auto, cpu, mps, cuda or cuda:N (type it)")
    native = combo.native
    native.setEditable(True)
    native.setInsertPolicy(native.InsertPolicy.NoInsert)
    line = native.lineEdit()

    def typed():
        text = line.text().strip()
        if text == combo.value:
            return
        try:
            set_device(combo, text)
        except ValueError as exc:
            line.setText(str(combo.value))
            if on_refused is not None:
                on_refused(str(exc))
    combo._on_typed = typed  # PyQt holds no reference to a connected closure
    line.editingFinished.connect(typed)
    return combo
