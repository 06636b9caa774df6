"""ctypes declarations of include/rsc.h and the search for librsc.so.

Structs mirror the header field for field; keep them in step with it (tests compare sizes)."""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

c_progress = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_float, ctypes.c_void_p)


class ModelInfo(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("input_channels", ctypes.c_uint32),
        ("input_height", ctypes.c_uint32),
        ("input_width", ctypes.c_uint32),
        ("input_len", ctypes.c_uint64),
        ("num_classes", ctypes.c_uint32),
        ("time_steps", ctypes.c_uint32),
        ("coding", ctypes.c_uint32),
        ("num_layers", ctypes.c_uint32),
        ("sigma", ctypes.c_double),
        ("sigma_eff", ctypes.c_double),
        ("name", ctypes.c_char_p),
        ("class_names", ctypes.POINTER(ctypes.c_char_p)),
        ("format_version", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("scratch_bytes", ctypes.c_uint64),
        ("work_per_pass", ctypes.c_uint64),
        ("plan_bytes", ctypes.c_uint64),
        ("noise_tail_mass", ctypes.c_double),
        ("arithmetic", ctypes.c_uint32),
        ("input_shift", ctypes.c_uint32),
        ("input_limit", ctypes.c_uint32),
        ("reserved2", ctypes.c_uint32),
    ]


class PredictParams(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("num_threads", ctypes.c_uint32),
        ("n", ctypes.c_uint64),
        ("alpha", ctypes.c_double),
        ("seed", ctypes.c_uint64),
        ("stream", ctypes.c_uint64),
        ("progress", c_progress),
        ("progress_user", ctypes.c_void_p),
        ("counts", ctypes.POINTER(ctypes.c_uint64)),
    ]


class Prediction(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("label", ctypes.c_int32),
        ("top", ctypes.c_int32),
        ("runner_up", ctypes.c_int32),
        ("count_top", ctypes.c_uint64),
        ("count_runner_up", ctypes.c_uint64),
        ("p_value", ctypes.c_double),
    ]


class CertifyParams(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("num_threads", ctypes.c_uint32),
        ("n0", ctypes.c_uint64),
        ("n", ctypes.c_uint64),
        ("alpha", ctypes.c_double),
        ("seed", ctypes.c_uint64),
        ("stream", ctypes.c_uint64),
        ("progress", c_progress),
        ("progress_user", ctypes.c_void_p),
    ]


class Certificate(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("label", ctypes.c_int32),
        ("selected", ctypes.c_int32),
        ("reserved", ctypes.c_uint32),
        ("count_selected", ctypes.c_uint64),
        ("n", ctypes.c_uint64),
        ("pa_lower", ctypes.c_double),
        ("radius", ctypes.c_double),
    ]


class SequentialParams(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("num_threads", ctypes.c_uint32),
        ("n0", ctypes.c_uint64),
        ("n_max", ctypes.c_uint64),
        ("alpha", ctypes.c_double),
        ("seed", ctypes.c_uint64),
        ("stream", ctypes.c_uint64),
        ("radii", ctypes.POINTER(ctypes.c_double)),
        ("num_radii", ctypes.c_uint64),
        ("progress", c_progress),
        ("progress_user", ctypes.c_void_p),
    ]


class SequentialCertificate(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("label", ctypes.c_int32),
        ("selected", ctypes.c_int32),
        ("num_certified", ctypes.c_uint32),
        ("count_selected", ctypes.c_uint64),
        ("passes", ctypes.c_uint64),
        ("pa_lower", ctypes.c_double),
        ("radius", ctypes.c_double),
    ]


class LoadOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("max_work_per_pass", ctypes.c_uint64),
    ]


_f32p = ctypes.POINTER(ctypes.c_float)


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    sig = {
        "rsc_version": (ctypes.c_char_p, []),
        "rsc_status_string": (ctypes.c_char_p, [ctypes.c_int]),
        "rsc_last_error": (ctypes.c_char_p, []),
        "rsc_load": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]),
        "rsc_load_from_memory": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]),
        "rsc_load_default_options": (LoadOptions, []),
        "rsc_load_with_options": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(LoadOptions),
                                                 ctypes.POINTER(ctypes.c_void_p)]),
        "rsc_load_from_memory_with_options": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t,
                                                             ctypes.POINTER(LoadOptions),
                                                             ctypes.POINTER(ctypes.c_void_p)]),
        "rsc_free": (None, [ctypes.c_void_p]),
        "rsc_model_info": (ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(ModelInfo)]),
        "rsc_forward": (ctypes.c_int, [ctypes.c_void_p, _f32p, ctypes.c_size_t, _f32p, ctypes.c_size_t]),
        "rsc_predict_default_params": (PredictParams, []),
        "rsc_certify_default_params": (CertifyParams, []),
        "rsc_predict": (ctypes.c_int, [ctypes.c_void_p, _f32p, ctypes.c_size_t,
                                       ctypes.POINTER(PredictParams), ctypes.POINTER(Prediction)]),
        "rsc_certify": (ctypes.c_int, [ctypes.c_void_p, _f32p, ctypes.c_size_t,
                                       ctypes.POINTER(CertifyParams), ctypes.POINTER(Certificate)]),
        "rsc_certify_sequential_default_params": (SequentialParams, []),
        "rsc_certify_sequential": (ctypes.c_int, [ctypes.c_void_p, _f32p, ctypes.c_size_t,
                                                  ctypes.POINTER(SequentialParams),
                                                  ctypes.POINTER(SequentialCertificate)]),
        "rsc_set_num_threads": (ctypes.c_int, [ctypes.c_int]),
        "rsc_model_info_init": (ModelInfo, []),
        "rsc_prediction_init": (Prediction, []),
        "rsc_certificate_init": (Certificate, []),
        "rsc_sequential_certificate_init": (SequentialCertificate, []),
        "rsc_predict_batch": (ctypes.c_int, [ctypes.c_void_p, _f32p, ctypes.c_size_t, ctypes.c_size_t,
                                             ctypes.POINTER(PredictParams), ctypes.POINTER(Prediction)]),
        "rsc_certify_batch": (ctypes.c_int, [ctypes.c_void_p, _f32p, ctypes.c_size_t, ctypes.c_size_t,
                                             ctypes.POINTER(CertifyParams), ctypes.POINTER(Certificate)]),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


def _candidates() -> list[Path]:
    here = Path(__file__).resolve().parent
    found = []
    if os.environ.get("RSC_LIBRARY"):
        found.append(Path(os.environ["RSC_LIBRARY"]))
    found.append(here / "librsc.so")  # what `pip install` ships (setup.py builds it)
    # Imported from a source checkout (bindings/python/rsc, not installed): the repo's builds,
    # development ones first. Never the current directory: it must not matter where Python runs.
    root = here.parent.parent.parent
    if (root / "Package.swift").is_file() and root / "bindings" / "python" / "rsc" == here:
        found += [root / ".build" / b / "librsc.so" for b in ("release", "debug", "dist-lib/release")]
    return found


_lib: ctypes.CDLL | None = None


def lib() -> ctypes.CDLL:
    """librsc.so, found by $RSC_LIBRARY, then the copy in this package, then (in a source
    checkout) the repo's build."""
    global _lib
    if _lib is None:
        tried = _candidates()
        for path in tried:
            if path.is_file():
                # An absolute path: dlopen searches the library path for a name without a slash
                # ("librsc.so" from RSC_LIBRARY=./librsc.so), which may load another copy.
                _lib = _declare(ctypes.CDLL(str(path.resolve())))
                break
        else:
            raise OSError("librsc.so not found; tried:\n  " + "\n  ".join(map(str, tried))
                          + "\ninstall the package with `pip install ./bindings/python` (it builds the "
                          "library) or set RSC_LIBRARY to a librsc.so (bash scripts/install.sh PREFIX "
                          "installs one)")
    return _lib
