"""Resumable download, served from 127.0.0.1 only: fresh, resumed, restarted, dropped, refused."""

from __future__ import annotations

import http.server
import re
import socket
import threading

import pytest

from conftest import WAIT_CEILING_S, assert_one_line_error, run_cli

from bookembed.download import download
from bookembed.errors import BookembedError, DownloadError

import gzip
import hashlib
import json

# Records, as the real dataset holds them: one JSON list per line (about 300 KB).
PAYLOAD = "".join(
    json.dumps([f"Book {i}", {"author": f"Author {i % 97}"}, [f"link {j}" for j in range(i % 40)], [],
                "2018-09-01T00:00:00Z", i]) + "\n"
    for i in range(1600)
).encode("utf-8")
HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please sign in</body></html>\n"
# Where a partial download may stop: in the middle of a record, or just after a record's newline
# (then the record at the seam is the first one the server sends, and a seam check alone passes).
MID_RECORD = 123_456
ON_NEWLINE = PAYLOAD.index(b"\n", 123_456) + 1
assert PAYLOAD[MID_RECORD - 1 : MID_RECORD] != b"\n"
# Where a body sent without Content-Length is cut short: inside a record.
CUT = PAYLOAD.index(b"\n", 2 * len(PAYLOAD) // 3) - 20


class State:
    def __init__(self):
        self.ranges: list[str | None] = []
        self.sent = 0


def make_handler(mode: str, state: State, payload: bytes = PAYLOAD):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep the test output clean
            pass

        def send_body(self, body: bytes):
            state.sent += len(body)  # counted first: the client may finish before write() returns here
            self.wfile.write(body)

        def do_GET(self):
            header = self.headers.get("Range")
            state.ranges.append(header)
            if self.path != "/data.ndjson":
                self.send_error(404, "Not Found")
                return
            start = 0
            if mode in ("html", "html-as-text"):  # a login or error page where the data should be
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8" if mode == "html" else "text/plain")
                self.send_header("Content-Length", str(len(HTML)))
                self.end_headers()
                self.send_body(HTML)
                return
            if header and mode in ("restart-206", "restart-206-length"):
                start = int(re.fullmatch(r"bytes=(\d+)-", header).group(1))
                # claims to resume at `start`, but the body starts again at byte 0
                body = payload[: len(payload) - start] if mode == "restart-206" else payload
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.send_body(body)
                return
            if mode == "html-as-binary":  # a page sent under a binary type
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(HTML)))
                self.end_headers()
                self.send_body(HTML)
                return
            if mode in ("cut-no-length", "html-no-length"):  # no length: the body ends where the connection does
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                cut = CUT if payload is PAYLOAD else len(payload) // 2
                self.send_body(payload[:cut] if mode == "cut-no-length" else HTML)
                self.close_connection = True
                return
            if header and mode == "no-content-range":  # a 206 that does not say which bytes it holds
                self.send_response(206)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.send_body(payload)
                return
            if header and mode == "shifted-206":  # names the asked range, sends bytes from 1000 earlier
                start = int(re.fullmatch(r"bytes=(\d+)-", header).group(1))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
                self.send_header("Content-Length", str(len(payload) - start))
                self.end_headers()
                self.send_body(payload[start - 1000 : len(payload) - 1000])
                return
            if header and mode == "short-total":  # a range that stops short of the total it names
                start = int(re.fullmatch(r"bytes=(\d+)-", header).group(1))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(payload) - 2}/{len(payload)}")
                self.send_header("Content-Length", str(len(payload) - 1 - start))
                self.end_headers()
                self.send_body(payload[start:-1])
                return
            if header and mode == "wrong-range":  # answers a resume with a range nobody asked for
                self.send_response(206)
                self.send_header("Content-Range", f"bytes 0-{len(payload) - 1}/{len(payload)}")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.send_body(payload)
                return
            if header and mode == "range":
                start = int(re.fullmatch(r"bytes=(\d+)-", header).group(1))
                if start >= len(payload):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(payload)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
            else:
                self.send_response(200)
            body = payload[start:]
            if mode == "chunked-drop":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.write(b"%x\r\n" % len(body))
                self.send_body(body[: len(body) // 3])
                self.close_connection = True
                return
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes" if mode == "range" else "none")
            self.end_headers()
            if mode == "drop":  # promise everything, send a third, hang up
                self.send_body(body[: len(body) // 3])
                self.wfile.flush()
                self.close_connection = True
                return
            self.send_body(body)

    return Handler


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Loopback only, even where an HTTP proxy is configured (subprocesses inherit this)."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture
def serve():
    """Start loopback servers: ``serve(mode[, payload])`` returns (url, state); all are shut down afterwards."""
    running = []

    def start(mode: str, payload: bytes = PAYLOAD):
        state = State()
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(mode, state, payload))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/data.ndjson", state

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=WAIT_CEILING_S)


def test_fresh_download(serve, tmp_path):
    url, state = serve("range")
    calls = []
    out = download(url, tmp_path / "data" / "books.ndjson", progress=lambda d, t: calls.append((d, t)), timeout=WAIT_CEILING_S)
    assert out == tmp_path / "data" / "books.ndjson"
    assert out.read_bytes() == PAYLOAD
    assert not (tmp_path / "data" / "books.ndjson.part").exists()
    assert state.ranges == [None]
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[0][0] == 0 and calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert {t for _, t in calls} == {len(PAYLOAD)}


def test_resume_completes_the_part_file(serve, tmp_path):
    url, state = serve("range")
    out = tmp_path / "books.ndjson"
    part = tmp_path / "books.ndjson.part"
    part.write_bytes(PAYLOAD[:123_456])
    calls = []
    download(url, out, progress=lambda d, t: calls.append((d, t)), timeout=WAIT_CEILING_S)
    assert out.read_bytes() == PAYLOAD
    assert not part.exists()
    assert state.ranges == ["bytes=123456-"]
    assert state.sent == len(PAYLOAD) - 123_456, "only the rest was fetched"
    assert calls[0] == (123_456, len(PAYLOAD)) and calls[-1] == (len(PAYLOAD), len(PAYLOAD))


@pytest.mark.parametrize("held", [PAYLOAD, b"x" * (len(PAYLOAD) + 10)], ids=["complete", "junk"])
def test_a_416_never_renames_the_part_it_fetches_the_file_again(serve, tmp_path, held):
    # The part may hold the whole file, or something else as long: the answer cannot tell them apart.
    url, state = serve("range")
    out = tmp_path / "books.ndjson"
    (tmp_path / "books.ndjson.part").write_bytes(held)
    download(url, out, timeout=WAIT_CEILING_S)
    assert out.read_bytes() == PAYLOAD
    assert state.ranges == [f"bytes={len(held)}-", None] and state.sent == len(PAYLOAD)


def test_server_ignoring_range_restarts_cleanly(serve, tmp_path):
    url, state = serve("no-range")
    out = tmp_path / "books.ndjson"
    (tmp_path / "books.ndjson.part").write_bytes(b"stale bytes from another file")
    download(url, out, timeout=WAIT_CEILING_S)
    assert out.read_bytes() == PAYLOAD
    assert state.ranges == ["bytes=29-"] and state.sent == len(PAYLOAD)


@pytest.mark.parametrize("mode", ["drop", "chunked-drop"])
def test_dropped_connection_keeps_the_part_and_resumes(serve, tmp_path, mode):
    out = tmp_path / "books.ndjson"
    part = tmp_path / "books.ndjson.part"
    bad_url, _ = serve(mode)
    with pytest.raises(DownloadError) as info:
        download(bad_url, out, timeout=WAIT_CEILING_S)
    message = str(info.value)
    assert bad_url in message and "interrupted" in message and "\n" not in message
    assert not out.exists(), "an incomplete download is never the final file"
    assert part.exists()
    kept = part.read_bytes()
    assert len(kept) < len(PAYLOAD) and PAYLOAD.startswith(kept)

    good_url, state = serve("range")
    download(good_url, out, timeout=WAIT_CEILING_S)
    assert out.read_bytes() == PAYLOAD and not part.exists()
    assert state.sent == len(PAYLOAD) - len(kept)


def test_http_error(serve, tmp_path):
    url, _ = serve("range")
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        download(url.replace("data.ndjson", "missing"), tmp_path / "x", timeout=WAIT_CEILING_S)
    assert "/missing" in str(info.value)
    assert not (tmp_path / "x").exists()


def test_connection_refused(tmp_path):
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot connect"):
        download(f"http://127.0.0.1:{port}/x", tmp_path / "x", timeout=WAIT_CEILING_S)
    assert not (tmp_path / "x").exists()


def test_download_error_is_a_bookembed_error():
    assert issubclass(DownloadError, BookembedError)


# ---------------------------------------------------------------- through the CLI


def test_cli_download(serve, tmp_path):
    url, _ = serve("range")
    proc = run_cli("download", "--url", url, "--out", "data/full.ndjson", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "data" / "full.ndjson").read_bytes() == PAYLOAD
    assert "saved data/full.ndjson" in proc.stdout


def test_cli_download_interrupted(serve, tmp_path):
    url, _ = serve("drop")
    proc = run_cli("download", "--url", url, "--out", "full.ndjson", "-q", cwd=tmp_path)
    assert proc.returncode == 1
    assert_one_line_error(proc, url, "run again to resume")
    assert (tmp_path / "full.ndjson.part").exists() and not (tmp_path / "full.ndjson").exists()


def test_a_resume_answered_with_another_range_is_refused_not_appended(serve, tmp_path):
    url, state = serve("wrong-range")
    out = tmp_path / "data.ndjson"
    part = tmp_path / "data.ndjson.part"
    part.write_bytes(PAYLOAD[:1000])
    with pytest.raises(DownloadError, match="range"):
        download(url, out)
    assert state.ranges == ["bytes=1000-"]
    assert not out.exists()
    assert part.read_bytes() == PAYLOAD[:1000], "the partial file is left as it was"


# ---------------------------------------------------------------- what arrives is checked


@pytest.mark.parametrize("mode", ["html", "html-as-text"])
def test_an_html_page_is_refused_and_nothing_is_saved(serve, tmp_path, mode):
    url, _ = serve(mode)
    out = tmp_path / "books.ndjson"
    part = tmp_path / "books.ndjson.part"
    part.write_bytes(PAYLOAD[:5000])  # an earlier partial download: not overwritten by the page
    with pytest.raises(DownloadError, match="HTML") as info:
        download(url, out, timeout=WAIT_CEILING_S)
    assert "\n" not in str(info.value)
    assert not out.exists()


def test_an_html_page_is_refused_even_for_a_binary_file(serve, tmp_path):
    url, _ = serve("html")
    with pytest.raises(DownloadError, match="Content-Type text/html"):
        download(url, tmp_path / "dump.xml.bz2", timeout=WAIT_CEILING_S)
    assert not (tmp_path / "dump.xml.bz2").exists()


def test_a_first_line_that_is_not_a_record_is_refused(tmp_path):
    source = tmp_path / "source.ndjson"
    source.write_bytes(b'{"title": "an object, not a list"}\n' + PAYLOAD)
    with pytest.raises(DownloadError, match="first record is a JSON dict"):
        download(source.as_uri(), tmp_path / "books.ndjson")
    assert not (tmp_path / "books.ndjson").exists()


@pytest.mark.parametrize("held", [MID_RECORD, ON_NEWLINE], ids=["mid-record", "on-newline"])
@pytest.mark.parametrize("name", ["books.ndjson", "z.bin"])
def test_a_206_whose_body_starts_again_at_byte_0_is_not_appended_the_file_is_fetched_afresh(serve, tmp_path,
                                                                                            held, name):
    # The answer names the asked range and a length that agrees; only the bytes give it away. When the
    # partial file ends on a newline, the record at the seam is the file's first one and parses.
    url, state = serve("restart-206")
    out = tmp_path / name
    (tmp_path / f"{name}.part").write_bytes(PAYLOAD[:held])
    download(url, out, timeout=WAIT_CEILING_S)
    assert out.read_bytes() == PAYLOAD, "no record twice, no record cut short"
    assert state.ranges == [f"bytes={held}-", None], "asked once to resume, then for the whole file"
    assert not (tmp_path / f"{name}.part").exists()


@pytest.mark.parametrize("held", [MID_RECORD, ON_NEWLINE], ids=["mid-record", "on-newline"])
def test_a_206_whose_body_starts_elsewhere_is_caught_at_the_seam(serve, tmp_path, held):
    url, _ = serve("shifted-206")
    out = tmp_path / "books.ndjson"
    out.write_bytes(PAYLOAD[:ON_NEWLINE])  # an earlier good file: a failed download never replaces it
    (tmp_path / "books.ndjson.part").write_bytes(PAYLOAD[:held])
    with pytest.raises(DownloadError, match="where this download resumed, does not parse") as info:
        download(url, out, timeout=WAIT_CEILING_S)
    assert url in str(info.value) and "\n" not in str(info.value)
    assert out.read_bytes() == PAYLOAD[:ON_NEWLINE]
    assert not (tmp_path / "books.ndjson.part").exists(), "resuming a file the server garbled cannot help"


@pytest.mark.parametrize("mode", ["wrong-range", "no-content-range", "short-total"])
@pytest.mark.parametrize("name", ["books.ndjson", "z.bin"])
def test_a_206_that_is_not_the_asked_range_is_refused_whatever_the_name(serve, tmp_path, mode, name):
    url, state = serve(mode)
    out = tmp_path / name
    part = tmp_path / f"{name}.part"
    out.write_bytes(b"the previous good file\n")
    part.write_bytes(PAYLOAD[:ON_NEWLINE])
    with pytest.raises(DownloadError, match="range") as info:
        download(url, out, timeout=WAIT_CEILING_S)
    assert url in str(info.value) and "\n" not in str(info.value)
    assert state.ranges == [f"bytes={ON_NEWLINE}-"]
    assert part.read_bytes() == PAYLOAD[:ON_NEWLINE], "the partial file is left as it was"
    assert out.read_bytes() == b"the previous good file\n"


def test_a_body_cut_short_without_a_length_keeps_the_part_and_resumes(serve, tmp_path):
    url, _ = serve("cut-no-length")
    out = tmp_path / "books.ndjson"
    part = tmp_path / "books.ndjson.part"
    out.write_bytes(PAYLOAD[:ON_NEWLINE])  # an earlier good file
    with pytest.raises(DownloadError, match="run again to resume") as info:
        download(url, out, timeout=WAIT_CEILING_S)
    message = str(info.value)
    assert url in message and "cut short" in message and "\n" not in message
    assert out.read_bytes() == PAYLOAD[:ON_NEWLINE], "the earlier file is not replaced"
    assert part.read_bytes() == PAYLOAD[:CUT], "what arrived is kept for resuming"

    good_url, state = serve("range")
    download(good_url, out, timeout=WAIT_CEILING_S)
    assert out.read_bytes() == PAYLOAD and not part.exists()
    assert state.ranges == [f"bytes={CUT}-"] and state.sent == len(PAYLOAD) - CUT


def test_a_gzip_body_cut_short_without_a_length_keeps_the_part_and_resumes(serve, tmp_path):
    packed = gzip.compress(PAYLOAD)
    url, _ = serve("cut-no-length", packed)
    out = tmp_path / "books.ndjson.gz"
    with pytest.raises(DownloadError, match="run again to resume") as info:
        download(url, out, timeout=WAIT_CEILING_S)
    assert url in str(info.value) and "\n" not in str(info.value)
    assert not out.exists()
    kept = (tmp_path / "books.ndjson.gz.part").read_bytes()
    assert 0 < len(kept) < len(packed) and packed.startswith(kept)

    good_url, _ = serve("range", packed)
    download(good_url, out, timeout=WAIT_CEILING_S)
    assert out.read_bytes() == packed


@pytest.mark.parametrize("line, bad", [
    (800, b'["Book 799", "an infobox that is a string", [], [], null, 1]'),
    (1200, b'{"title": "an object"}'),
    (1600, b'["Book 1599", {}, [], [], null, 1599] trailing'),
], ids=["field", "object", "last-line"])
def test_every_record_is_checked_a_bad_one_is_named_and_nothing_is_saved(serve, tmp_path, line, bad):
    lines = PAYLOAD.split(b"\n")
    lines[line - 1] = bad
    url, _ = serve("range", b"\n".join(lines))
    out = tmp_path / "books.ndjson"
    out.write_bytes(PAYLOAD[:ON_NEWLINE])
    with pytest.raises(DownloadError) as info:
        download(url, out, timeout=WAIT_CEILING_S)
    message = str(info.value)
    assert url in message and f"line {line} of books.ndjson" in message and "\n" not in message
    assert out.read_bytes() == PAYLOAD[:ON_NEWLINE]
    assert not (tmp_path / "books.ndjson.part").exists()


@pytest.mark.parametrize("mode", ["html-as-binary", "html-no-length"])
def test_an_html_body_is_refused_whatever_its_type_and_name(serve, tmp_path, mode):
    url, _ = serve(mode)
    out = tmp_path / "z.bin"
    part = tmp_path / "z.bin.part"
    part.write_bytes(b"\x00\x01 an earlier partial download")
    with pytest.raises(DownloadError, match="HTML") as info:
        download(url, out, timeout=WAIT_CEILING_S)
    assert url in str(info.value) and "\n" not in str(info.value)
    assert not out.exists()
    assert part.read_bytes() == b"\x00\x01 an earlier partial download", "the page did not overwrite it"


def test_a_206_whose_length_disagrees_with_its_range_keeps_the_part_as_it_was(serve, tmp_path):
    url, _ = serve("restart-206-length")
    out = tmp_path / "books.ndjson"
    part = tmp_path / "books.ndjson.part"
    part.write_bytes(PAYLOAD[:123_456])
    with pytest.raises(DownloadError, match="do not agree"):
        download(url, out, timeout=WAIT_CEILING_S)
    assert part.read_bytes() == PAYLOAD[:123_456] and not out.exists()


def test_a_known_checksum_is_checked(serve, tmp_path):
    url, _ = serve("range")
    good = hashlib.sha256(PAYLOAD).hexdigest()
    assert download(url, tmp_path / "a.ndjson", sha256=good, timeout=WAIT_CEILING_S).read_bytes() == PAYLOAD
    with pytest.raises(DownloadError, match="SHA-256"):
        download(url, tmp_path / "b.ndjson", sha256="0" * 64, timeout=WAIT_CEILING_S)
    assert not (tmp_path / "b.ndjson").exists() and not (tmp_path / "b.ndjson.part").exists()


def test_cli_refuses_an_html_page(serve, tmp_path):
    url, _ = serve("html")
    proc = run_cli("download", "--url", url, "--out", "data/full.ndjson", "-q", cwd=tmp_path)
    assert_one_line_error(proc, url, "HTML")
    assert not (tmp_path / "data" / "full.ndjson").exists()


def test_cli_checks_a_given_sha256(serve, tmp_path):
    url, _ = serve("range")
    proc = run_cli("download", "--url", url, "--out", "full.ndjson", "--sha256", "ab" * 32, "-q", cwd=tmp_path)
    assert_one_line_error(proc, "SHA-256")
    assert not (tmp_path / "full.ndjson").exists()


def test_cli_refuses_a_body_cut_short(serve, tmp_path):
    url, _ = serve("cut-no-length")
    proc = run_cli("download", "--url", url, "--out", "full.ndjson", "-q", cwd=tmp_path)
    assert proc.returncode == 1
    assert_one_line_error(proc, url, "cut short", "run again to resume")
    assert (tmp_path / "full.ndjson.part").read_bytes() == PAYLOAD[:CUT]
    assert not (tmp_path / "full.ndjson").exists()
