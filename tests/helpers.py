"""Shared test helpers: seeded images, one seeded VGG-19 state-dict maker and one loopback HTTP server.

Import them as ``from .helpers import smooth_image, write_vgg19_weights, LoopbackServer``
(the ``loopback_server`` fixture in conftest.py closes the server after the test).
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

__all__ = [
    "smooth_image",
    "vgg19_state_dict",
    "write_vgg19_weights",
    "torchvision_vgg19_features",
    "Route",
    "LoopbackServer",
]


# ---------------------------------------------------------------- images and weights


def smooth_image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A seeded smooth (1, 3, h, w) image in [0, 1] (bilinear upsampling of seeded noise)."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, max(2, h // 8), max(2, w // 8), generator=g)
    return torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)


def vgg19_state_dict(seed: int = 0, *, classifier: bool = True) -> dict[str, torch.Tensor]:
    """A seeded random torchvision VGG-19 state dict ("features.0.weight", ...), as a classroom would share it.

    ``classifier=True``: the whole ``torchvision.models.vgg19()`` (548 MB of float32, what
    ``load_state_dict`` of a torchvision model needs). ``classifier=False``: only the ``features.*``
    keys (what nstlib and the benchmarks read), the very tensors of ``classifier=True`` for the same
    seed, built without the 120M-parameter classifier (its initialisation's random draws are only
    skipped over), so fast. The global RNG is left as it was.
    """
    import torchvision

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if classifier:
            return torchvision.models.vgg19(weights=None).state_dict()
        features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])  # = vgg19().features
        # vgg19() then builds its classifier, whose default initialisation draws one uniform number per
        # parameter: skip the same draws, so that the filters below equal vgg19(weights=None)'s
        chunk = torch.empty(1 << 22)
        for n in (512 * 7 * 7 * 4096, 4096, 4096 * 4096, 4096, 4096 * 1000, 1000):  # Linear weights, biases
            for start in range(0, n, chunk.numel()):
                chunk[: min(chunk.numel(), n - start)].uniform_()
        for m in features.modules():  # torchvision's VGG initialisation (VGG.__init__), convolutions first
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                torch.nn.init.zeros_(m.bias)
    return {f"features.{k}": v for k, v in features.state_dict().items()}


def write_vgg19_weights(path: str | Path, seed: int = 0, *, classifier: bool = True) -> Path:
    """:func:`vgg19_state_dict` saved with ``torch.save`` to ``path`` (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(vgg19_state_dict(seed, classifier=classifier), path)
    return path


def torchvision_vgg19_features(weights: str | Path | Mapping[str, torch.Tensor]) -> torch.nn.Sequential:
    """torchvision's own ``vgg19().features`` (eval mode) carrying a state dict's filters: the oracle.

    ``weights``: a file or dict with ``features.*`` keys (a whole ``vgg19()`` state dict works too: the
    classifier is ignored). Built without the 120M-parameter classifier, so fast.
    """
    import torchvision

    state = torch.load(weights, weights_only=True) if isinstance(weights, (str, Path)) else weights
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])  # = vgg19().features
    features.load_state_dict({k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")})
    return features.eval()


# ---------------------------------------------------------------- HTTP


@dataclass
class Route:
    """What the server answers on one path.

    ``body`` is sent with ``Content-Length: len(body)``; then, at most one of:
    ``cut``: only the first half of the body (a connection that drops);
    ``corrupt``: the body with its first byte flipped (same length: wrong bytes for hash checks);
    ``stall``: wait this many seconds before answering anything (released at once by ``close``);
    ``trickle``: seconds between single bytes (a connection that never finishes; released by ``close``).
    """

    body: bytes
    cut: bool = False
    corrupt: bool = False
    stall: float = 0.0
    trickle: float = 0.0

    @property
    def sha256(self) -> str:
        """The sha256 of the intended body (what a registry would pin)."""
        return hashlib.sha256(self.body).hexdigest()


class LoopbackServer:
    """An HTTP server on 127.0.0.1 (a free port) that serves bytes, counts requests and can misbehave.

    ``routes`` maps paths ("/good.jpg") to bytes or a :class:`Route`; ``default`` answers every other
    path (else 404). ``hits`` counts requests per path (``sum(server.hits.values())`` in all).
    Use it as a context manager or through conftest's ``loopback_server`` fixture (both close it).
    """

    def __init__(self, routes: Mapping[str, bytes | Route] | None = None, *, default: bytes | Route | None = None):
        self.routes = {p: r if isinstance(r, Route) else Route(r) for p, r in (routes or {}).items()}
        self.default = default if default is None or isinstance(default, Route) else Route(default)
        self.hits: Counter[str] = Counter()
        self.release = threading.Event()  # set by close(): stalled and trickling answers end
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):  # noqa: N802 (http.server's name)
                server.hits[self.path] += 1
                route = server.routes.get(self.path, server.default)
                if route is None:
                    self.send_error(404)
                    return
                if route.stall and server.release.wait(route.stall):
                    return
                body = bytes([route.body[0] ^ 0xFF]) + route.body[1:] if route.corrupt and route.body else route.body
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if route.cut:
                        self.wfile.write(body[: len(body) // 2])
                    elif route.trickle:
                        for i in range(len(body)):
                            if server.release.wait(route.trickle):
                                return
                            self.wfile.write(body[i : i + 1])
                            self.wfile.flush()
                    else:
                        self.wfile.write(body)
                except OSError:  # the client gave up (timeout tests)
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        self._closed = False

    def url(self, path: str = "/") -> str:
        """The full URL of ``path`` on this server."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def close(self) -> None:
        """Stop serving (idempotent); afterwards nothing listens on the port, like being offline."""
        if self._closed:
            return
        self._closed = True
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Imported by a test module, runs it on one thread: tiny problems gain nothing from threads, one thread
    fixes the float32 summation order, and on a busy machine each parallel region waits."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
