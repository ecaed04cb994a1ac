"""Models on workers: fingerprint, load once per process, inspect, size the halo.

The graph never carries a model: tasks carry the model's URL and fingerprint, and
:func:`load_model` keeps one loaded copy per process keyed by that fingerprint.
:class:`ModelPlugin` warms the cache on every worker of a distributed cluster.
TensorFlow is imported only here, inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from reefdask.errors import FingerprintMismatchError, ModelError
from reefdask.io.store import open_store, store_for
from reefdask.model.fingerprint import weights_digest
from reefdask.model.loading import ModelInfo, inspect_model, measure_receptive_field

__all__ = [
    "ModelInfo",
    "ModelPlugin",
    "configure_threads",
    "inspect_model",
    "load_model",
    "measure_receptive_field",
    "relax_malloc_trim",
    "weights_digest",
]

_CACHE: dict[str, Any] = {}
_LOCK = threading.Lock()
_THREADS_SET = False


def configure_threads(n: int | None = None) -> None:
    """Set TensorFlow's thread pools once per process (before its first op).

    ``n`` defaults to this process's share of the cores: ``cpu_count // nthreads`` of
    the Dask worker it runs in, or every core outside a worker. GPUs get memory
    growth, so several processes can share one.
    """
    global _THREADS_SET
    if _THREADS_SET:
        return
    import tensorflow as tf

    if n is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        n = cores
        try:
            from distributed import get_worker

            n = max(1, cores // max(1, get_worker().state.nthreads))
        except (ImportError, ValueError):
            pass
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(n))
        tf.config.threading.set_inter_op_parallelism_threads(2)
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:  # TensorFlow already initialised in this process: keep its pools
        pass
    _THREADS_SET = True


def relax_malloc_trim() -> bool:
    """Undo a tiny glibc trim threshold (Dask nannies set ``MALLOC_TRIM_THRESHOLD_=65536``).

    With that setting every array above 128 KiB is a fresh ``mmap`` and page-faults on
    first touch: NumPy and TensorFlow work on chunk-sized arrays measured 2-3x slower
    in a worker than in a plain process. Model workers allocate the same few large
    temporaries per chunk, so they keep up to ``reefdask.predict.malloc-trim-threshold``
    bytes (default 64 MiB, ``0`` disables this) of freed heap instead. Only acts when
    the variable is set below that; returns whether it changed anything (glibc only).
    """
    import ctypes

    import dask.config

    value = int(dask.config.get("reefdask.predict.malloc-trim-threshold", 64 * 2**20) or 0)
    env = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    if not value or env is None or not env.isdigit() or int(env) >= value:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # pragma: no cover - not glibc
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    ok = libc.mallopt(m_trim_threshold, value) == 1
    return bool(ok and libc.mallopt(m_mmap_threshold, min(value // 2, 32 * 2**20)) == 1)


def load_model(model_url: str, fingerprint: str, storage_options: dict[str, Any] | None = None) -> Any:
    """The Keras model at ``model_url``, loaded once per process and cached by fingerprint."""
    key = f"{model_url}#{fingerprint}"
    model = _CACHE.get(key)
    if model is not None:
        return model
    with _LOCK:
        model = _CACHE.get(key)
        if model is None:
            configure_threads()
            import keras

            path = _local_copy(model_url, fingerprint, storage_options)
            try:
                model = keras.models.load_model(path, compile=False)
            except Exception as err:
                raise ModelError(
                    f"Cannot load the Keras model {model_url}: {err}. Save it with model.save('x.keras')."
                ) from err
            _CACHE[key] = model
    return model


def _local_copy(model_url: str, fingerprint: str, storage_options: dict[str, Any] | None) -> str:
    """A local path of the model: itself when local, else a verified copy in a private cache.

    The cache (``$TMPDIR/reefdask-models-<uid>/<fingerprint>.keras``, mode 0700, owned by
    this user) is used only when the copy's weights digest still starts with
    ``fingerprint``; a planted or damaged file is replaced by a fresh download, which is
    published only once its digest matches.
    """
    store, key = store_for(model_url, storage_options)
    if store.local:
        return store.url_for(key)
    cache = open_store(_model_cache_dir(), shared=False)
    name = f"{fingerprint}{os.path.splitext(key)[1] or '.keras'}"
    if _digest_matches(cache.url_for(name), fingerprint):
        return cache.url_for(name)

    def check(path: str) -> None:
        if not _digest_matches(path, fingerprint):
            raise FingerprintMismatchError(
                f"The model at {model_url} no longer has the weights digest {fingerprint} it was planned "
                "with; plan the run again (or put the original model back)."
            )

    with store.fs.open(store.url_for(key), "rb") as src:
        cache.publish(name, src, check=check)
    return cache.url_for(name)


def _digest_matches(path: str, fingerprint: str) -> bool:
    try:
        return len(fingerprint) >= 16 and weights_digest(path).startswith(fingerprint)
    except (OSError, ValueError):  # missing, or not a readable archive
        return False


def _model_cache_dir() -> str:
    """``$TMPDIR/reefdask-models-<uid>``, private to this user (or a fresh private folder)."""
    folder = os.path.join(tempfile.gettempdir(), f"reefdask-models-{os.getuid()}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():  # someone else's, or a symlink
        return tempfile.mkdtemp(prefix="reefdask-models-")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(folder, 0o700)
    return folder


class ModelPlugin(WorkerPlugin):
    """A Dask ``WorkerPlugin`` that loads the model into each worker's cache at start.

    Register with ``client.register_plugin(ModelPlugin(url, fingerprint))``; tasks then
    find the model loaded. Only the URL and fingerprint travel to workers.
    """

    name = "reefdask-model"

    def __init__(
        self,
        model_url: str,
        fingerprint: str,
        storage_options: dict[str, Any] | None = None,
        threads_by_host: dict[str, int] | None = None,
    ):
        self.model_url = model_url
        self.fingerprint = fingerprint
        self.storage_options = storage_options
        self.threads_by_host = dict(threads_by_host or {})
        self.name = f"reefdask-model-{fingerprint}"

    def tf_threads(self, worker: Any) -> int:
        """TensorFlow threads per task: twice the host's cores over the Dask threads of all its workers.

        Capped at the host's cores. The factor 2 keeps the cores busy while other tasks
        do their single-threaded parts (read, preprocess, encode, write): on 2 cores, 2
        workers x 1 thread ran 4096^2 in 14.4-16.5 s with 2 TF threads each vs 18.7-26.7 s
        with 1. ``reefdask.predict.tf-threads`` overrides it. A host missing from
        ``threads_by_host`` (a worker that joined later) counts its own threads only.
        """
        import dask
        from distributed.comm import get_address_host

        n = dask.config.get("reefdask.predict.tf-threads", None)
        if n:
            return int(n)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        threads = self.threads_by_host.get(get_address_host(worker.address), worker.state.nthreads)
        return max(1, min(cores, 2 * (cores // max(1, int(threads), worker.state.nthreads))))

    def setup(self, worker: Any) -> None:
        """Tune malloc, set TensorFlow's threads from the host's cores, load the model."""
        relax_malloc_trim()
        configure_threads(self.tf_threads(worker))
        load_model(self.model_url, self.fingerprint, self.storage_options)

    # no teardown: re-registering the plugin (every ``predict`` call does) must not
    # drop the loaded model; the per-process cache lives as long as the worker.
