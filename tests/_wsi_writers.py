"""Write small vendor-format slides for the tests: Philips TIFF and Leica SCN (tifffile),
DICOM WSI (pydicom, one instance per level, TILED_FULL, uncompressed) and Zeiss CZI
(pylibCZIrw).

Levels are plain 2x strides of level 0, so a test can compare every level with the
array it came from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SM_IMAGE = "1.2.840.10008.5.1.4.1.1.77.1.6"  # VL Whole Slide Microscopy Image Storage


def pyramid(img: np.ndarray, n_levels: int) -> list[np.ndarray]:
    return [np.ascontiguousarray(img[:: 2 ** k, :: 2 ** k]) for k in range(n_levels)]


# ----------------------------------------------------------------------------- Philips


def _philips_xml(mpp: float | None, n_levels: int, objective: int | None,
                 spacing_in_wsi: bool) -> str:
    def attr(name, value, group="0x0028", element="0x0030"):
        return (f'<Attribute Name="{name}" Group="{group}" Element="{element}" '
                f'PMSVR="IString">{value}</Attribute>')

    def spacing(mm):  # "row spacing" "column spacing", quoted
        return attr("DICOM_PIXEL_SPACING", f"&quot;{mm:.9g}&quot; &quot;{mm:.9g}&quot;")

    step = (mpp or 0.25) / 1000.0  # millimetres
    reps = "".join(f'<DataObject ObjectType="PixelDataRepresentation">{spacing(step * 2 ** k)}'
                   f'</DataObject>' for k in range(n_levels))
    wsi = (f'<DataObject ObjectType="DPScannedImage">{attr("PIM_DP_IMAGE_TYPE", "WSI")}'
           + (spacing(step) if spacing_in_wsi and mpp else "")
           + f'<Attribute Name="PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE" Group="0x1001" '
             f'Element="0x8b01" PMSVR="IDataObjectArray"><Array>{reps}</Array></Attribute>'
           + '</DataObject>')
    derivation = (attr("DICOM_DERIVATION_DESCRIPTION",
                       f"tiff-useBigTIFF=1-useRgb=0-levels={objective},10002,10000-q80")
                  if objective else "")
    return ('<?xml version="1.0" encoding="UTF-8" ?><DataObject ObjectType="DPUfsImport">'
            + attr("DICOM_MANUFACTURER", "PHILIPS") + derivation
            + '<Attribute Name="PIM_DP_SCANNED_IMAGES" Group="0x301D" Element="0x1003" '
              f'PMSVR="IDataObjectArray"><Array>{wsi}</Array></Attribute></DataObject>')


def write_philips_tiff(path: Path, img: np.ndarray, mpp: float | None = 0.25,
                       n_levels: int = 3, tile: int = 256, objective: int | None = None,
                       spacing_in_wsi: bool = True, label: np.ndarray | None = None) -> Path:
    """A Philips-style TIFF: tiled zlib levels (subfiletype 1 below level 0), Philips
    software tag and DPUfsImport XML with per-level DICOM_PIXEL_SPACING; ``mpp=None``
    (with ``spacing_in_wsi=False``) leaves no pixel size in the file."""
    import tifffile

    xml = _philips_xml(mpp, n_levels, objective, spacing_in_wsi)
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        for k, level in enumerate(pyramid(img, n_levels)):
            tw.write(level, tile=(tile, tile), photometric="rgb", compression="zlib",
                     subfiletype=1 if k else 0, software="Philips DP v1.0",
                     description=xml if k == 0 else None, metadata=None)
        if label is not None:
            tw.write(label, photometric="rgb", description="Label", metadata=None)
    return path


# ----------------------------------------------------------------------------- Leica


def write_leica_scn(path: Path, img: np.ndarray, mpp: float = 0.5, n_levels: int = 3,
                    margin: int = 4, tile: int = 256) -> Path:
    """A Leica SCN (BigTIFF + scn XML): one brightfield image of ``img`` placed ``margin``
    pixels inside a collection ``2 * margin`` pixels larger; resolution tags give mpp."""
    import tifffile

    h, w = img.shape[:2]
    levels = pyramid(img, n_levels)
    dims = "".join(f'<dimension sizeX="{lv.shape[1]}" sizeY="{lv.shape[0]}" r="{k}" '
                   f'ifd="{k}"/>' for k, lv in enumerate(levels))
    nm = mpp * 1000
    xml = ('<?xml version="1.0" encoding="utf-8"?>'
           '<scn xmlns="http://www.leica-microsystems.com/scn/2010/10/01">'
           f'<collection name="test" uuid="1" sizeX="{round((w + 2 * margin) * nm)}" '
           f'sizeY="{round((h + 2 * margin) * nm)}"><image name="main" uuid="2">'
           '<creationDate>2024-01-01T00:00:00.00Z</creationDate>'
           '<device model="Leica SCN400;Leica SCN" version="1.5"/>'
           f'<pixels sizeX="{w}" sizeY="{h}">{dims}</pixels>'
           f'<view sizeX="{round(w * nm)}" sizeY="{round(h * nm)}" '
           f'offsetX="{round(margin * nm)}" offsetY="{round(margin * nm)}" spacingZ="0"/>'
           '<scanSettings><objectiveSettings><objective>20</objective></objectiveSettings>'
           '<illuminationSettings><numericalAperture>0.4</numericalAperture>'
           '<illuminationSource>brightfield</illuminationSource></illuminationSettings>'
           '</scanSettings></image></collection></scn>')
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        for k, level in enumerate(levels):
            per_cm = 1e4 / (mpp * 2 ** k)
            tw.write(level, tile=(tile, tile), photometric="rgb", compression="zlib",
                     subfiletype=1 if k else 0, description=xml if k == 0 else None,
                     resolution=(per_cm, per_cm), resolutionunit="CENTIMETER",
                     metadata=None)
    return path


# ----------------------------------------------------------------------------- DICOM


def write_dicom_wsi(folder: Path, img: np.ndarray, mpp: float = 0.5, n_levels: int = 2,
                    tile: int = 128, label: np.ndarray | None = None,
                    objective: float | None = 20.0) -> list[Path]:
    """One DICOM WSI series in ``folder``: a VOLUME instance per level (``level_<k>.dcm``)
    and, with ``label``, a LABEL instance. Returns the files written."""
    from pydicom.uid import generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    uids = {"study": generate_uid(), "series": generate_uid(), "frame": generate_uid()}
    files = []
    for k, level in enumerate(pyramid(img, n_levels)):
        files.append(_write_instance(folder / f"level_{k}.dcm", level, mpp * 2 ** k, tile,
                                     ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"], uids, k + 1,
                                     objective))
    if label is not None:
        h, w = label.shape[:2]
        files.append(_write_instance(folder / "label.dcm", label, mpp, max(h, w),
                                     ["ORIGINAL", "PRIMARY", "LABEL", "NONE"], uids,
                                     n_levels + 1, objective, tile_hw=(h, w)))
    return files


def _write_instance(path: Path, img: np.ndarray, mpp: float, tile: int, image_type: list,
                    uids: dict, number: int, objective, tile_hw=None) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    th, tw = tile_hw or (tile, tile)
    h, w = img.shape[:2]
    rows, cols = -(-h // th), -(-w // tw)
    frames = np.full((rows * th, cols * tw, 3), 255, np.uint8)
    frames[:h, :w] = img
    frames = frames.reshape(rows, th, cols, tw, 3).transpose(0, 2, 1, 3, 4)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SM_IMAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SM_IMAGE, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uids["study"], uids["series"]
    ds.FrameOfReferenceUID = uids["frame"]
    ds.Modality, ds.ImageType, ds.InstanceNumber = "SM", image_type, number
    ds.PatientName, ds.PatientID, ds.StudyID, ds.SeriesNumber = "Test^Slide", "T1", "1", 1
    ds.ContentDate, ds.ContentTime, ds.AcquisitionDateTime = "20240101", "120000", \
        "20240101120000"
    ds.Manufacturer, ds.ContainerIdentifier = "pathrobust-tests", "T1"
    ds.BurnedInAnnotation = "YES" if "LABEL" in image_type else "NO"
    ds.SpecimenLabelInImage = ds.BurnedInAnnotation
    ds.FocusMethod, ds.ExtendedDepthOfField = "AUTO", "NO"
    ds.VolumetricProperties = "VOLUME"
    ds.Rows, ds.Columns, ds.NumberOfFrames = th, tw, rows * cols
    ds.TotalPixelMatrixRows, ds.TotalPixelMatrixColumns = h, w
    ds.TotalPixelMatrixFocalPlanes = 1
    ds.DimensionOrganizationType = "TILED_FULL"
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.ImagedVolumeWidth, ds.ImagedVolumeHeight = w * mpp / 1000, h * mpp / 1000
    ds.ImagedVolumeDepth = 0.001
    measures = Dataset()
    measures.PixelSpacing = [f"{mpp / 1000:.9g}", f"{mpp / 1000:.9g}"]
    measures.SliceThickness = 0.001
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    origin = Dataset()
    origin.XOffsetInSlideCoordinateSystem, origin.YOffsetInSlideCoordinateSystem = 20, 40
    ds.TotalPixelMatrixOriginSequence = Sequence([origin])
    path_ds = Dataset()
    path_ds.OpticalPathIdentifier = "1"
    if objective:
        path_ds.ObjectiveLensPower = objective
    ds.OpticalPathSequence = Sequence([path_ds])
    ds.NumberOfOpticalPaths = 1
    ds.PixelData = frames.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


# ----------------------------------------------------------------------------- CZI


def write_czi(path: Path, img: np.ndarray, mpp: float | None = 0.25,
              origin: tuple = (0, 0)) -> Path:
    """A Zeiss CZI (Bgr24 mosaic of one subblock) with Scaling X/Y = ``mpp`` microns."""
    from pylibCZIrw import czi as pyczi

    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        writer.write(np.ascontiguousarray(img[..., ::-1]), location=origin)  # libCZI: BGR
        scale = (mpp or 0.0) * 1e-6
        writer.write_metadata(document_name=path.stem, scale_x=scale, scale_y=scale)
    return path

