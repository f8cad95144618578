"""Many readers at once: N browser sessions on Search and Map of the demo, while a training run works.

    .venv/bin/python benchmarks/bench_readers.py                      # 20 sessions, bookembed train beside them
    .venv/bin/python benchmarks/bench_readers.py --hogs 2             # ... and two CPU hogs at normal priority
    .venv/bin/python benchmarks/bench_readers.py --sessions 1 --no-train  # one reader on a quiet server

One ``streamlit run`` serves a copy of ``models/demo`` (so the checkout stays
clean). ``bookembed train`` runs on p15 (``../shared/data``) for as long as the
readers need, at the priority a user's command gets (nice 0), restarted if it
ends first. Then one headless Chromium opens ``--sessions`` separate browser
contexts (separate Streamlit sessions) at once: even ones load
``/search?book=War and Peace`` and wait for its neighbour table to list
"Anna Karenina"; odd ones load ``/map`` and wait for every book to be drawn.
Each session's figure is the seconds from its navigation to that first result.

The browser stands for people on other machines, yet it shares these 2 cores
with the server, the training and any hogs, at the same priority: a fresh
Chromium context spends seconds of CPU loading Streamlit's front end, so the
figures are pessimistic. ``server_cpu_s`` gives the server's own share: the CPU
seconds the ``streamlit run`` process used while the readers were served;
``browser_cpu_s`` the browser's (every Chromium process, counted by a cgroup v1
``cpuacct`` group where one can be made; empty otherwise). Their ratio says who
the wait is for: what the browser needs, divided by the cores, is a floor no
server can lower.
``--tabs`` opens the sessions as tabs of one browser (one cache, as a returning
visitor's) instead of one new visitor each. ``--browsers-as-one`` puts the whole
browser (every renderer) in a CPU control group that weighs as much as one
ordinary program (Linux cgroup ``cpu.shares`` 1024, v1, or ``cpu.weight`` 100,
v2; needs the right to create one, as root): the twenty readers stand for people
on other machines, and the server, the training and any hogs still compete at
normal priority. Without it, twenty renderer processes outweigh the one server
process twenty to one. Exceptions count both what the pages
show (``stException``) and tracebacks in the server's log. Figures go to
``benchmarks/results/readers.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_app import CHROMIUM, CHROMIUM_ARGS, MAP_INIT, WAIT_BOOKS, WAIT_CELL, Server  # noqa: E402
from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402

P15 = ROOT.parent / "shared" / "data" / "p15_books.ndjson"
QUERY, EXPECTED = "War and Peace", "Anna Karenina"


class Trainer:
    """``bookembed train`` on p15, kept running (restarted when it ends) until ``stop``."""

    def __init__(self, out: Path, nice: int = 0):
        self.out, self.nice, self.proc, self.runs = out, nice, None, 0
        self._stopped = False

    def _start(self) -> None:
        cmd = [sys.executable, "-m", "bookembed", "train", "--data", str(P15), "--out", str(self.out),
               "--epochs", "200", "--overwrite", "-q"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=(lambda: os.nice(self.nice)) if self.nice else None)
        self.runs += 1

    async def keep_running(self) -> None:
        self._start()
        while not self._stopped:
            if self.proc.poll() is not None:
                self._start()
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        self._stopped = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


async def one_reader(browser, url: str, which: str, ceiling_s: float, shared=None) -> dict:
    """One session: a context of its own (a new visitor, empty cache), or a tab of ``shared``."""
    context = shared or await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await context.new_page()
    await page.add_init_script(MAP_INIT)
    start = time.perf_counter()
    error = None
    try:
        if which == "search":
            await page.goto(f"{url}/search?book={QUERY}")
            await page.wait_for_function(WAIT_CELL, arg=EXPECTED, timeout=ceiling_s * 1000, polling=100)
        else:
            await page.goto(f"{url}/map")
            await page.wait_for_function(WAIT_BOOKS, arg=478, timeout=ceiling_s * 1000, polling=100)
        seconds = time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 - a reader that never got its result is reported, not raised
        seconds, error = None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    shown = await page.locator("[data-testid=stException]").count()
    if shared is None:
        await context.close()
    return {"page": which, "seconds": seconds, "error": error, "exceptions_shown": shown}


async def readers(url: str, sessions: int, ceiling_s: float, tabs: bool = False, executable: str = CHROMIUM
                  ) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            shared = await browser.new_context(viewport={"width": 1300, "height": 900}) if tabs else None
            return await asyncio.gather(*(one_reader(browser, url, "search" if i % 2 == 0 else "map", ceiling_s,
                                                     shared) for i in range(sessions)))
        finally:
            await browser.close()


async def run(args, url: str, trainer: Trainer | None, work: Path, executable: str = CHROMIUM) -> list[dict]:
    task = asyncio.create_task(trainer.keep_running()) if trainer else None
    if trainer:
        await asyncio.sleep(2.0)  # the training is under way (reading and cleaning done) before readers arrive
    try:
        return await readers(url, args.sessions, args.ceiling, args.tabs, executable)
    finally:
        if trainer:
            trainer.stop()
            await task


class BrowserGroup:
    """Control groups for the browser: one that counts its CPU time and, with ``as_one``, one that weighs it.

    With ``as_one`` the browser weighs as one ordinary program (cgroup v1 ``cpu.shares`` 1024, or v2
    ``cpu.weight`` 100). Without it, the browser only joins a CPU-accounting group (cgroup v1's
    ``cpuacct``), where one exists and may be created, so its CPU seconds are known; else they are not.
    """

    V1, V2 = Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup")

    def __init__(self, work: Path, as_one: bool):
        name = f"bookembed-readers-{os.getpid()}"
        self.groups: list[Path] = []
        self.usage: Path | None = None
        v1 = (self.V1 / "cpu.shares").is_file()
        if as_one:
            if v1:
                path, knob, value = self.V1 / name, "cpu.shares", "1024"
            elif (self.V2 / "cgroup.controllers").is_file() and "cpu" in (self.V2 / "cgroup.controllers").read_text():
                path, knob, value = self.V2 / name, "cpu.weight", "100"
            else:
                raise SystemExit("--browsers-as-one needs a cgroup cpu controller (/sys/fs/cgroup)")
            try:
                path.mkdir()
                (path / knob).write_text(value)
            except OSError as err:
                raise SystemExit(f"--browsers-as-one: cannot make a CPU control group at {path} ({err.strerror})")
            self.groups.append(path)
            if not v1:
                self.usage = path / "cpu.stat"
        account = self.V1.parent / "cpuacct" / name
        if v1 and account.parent.is_dir():  # cgroup v1 counts CPU time in a hierarchy of its own
            try:
                account.mkdir()
                self.groups.append(account)
                self.usage = account / "cpuacct.usage"
            except OSError:
                pass
        self.launcher = work / "chromium-in-group"
        self.launcher.write_text("#!/bin/sh\n" + "".join(f'echo $$ > "{g}/cgroup.procs"\n' for g in self.groups)
                                 + f'exec {CHROMIUM} "$@"\n')
        self.launcher.chmod(0o755)

    @property
    def executable(self) -> str:
        return str(self.launcher) if self.groups else CHROMIUM

    def close(self) -> None:
        """Remove the groups (the browser has exited, so they are empty)."""
        for group in self.groups:
            for _ in range(50):
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)

    def cpu_seconds(self) -> float | None:
        """CPU seconds the browser's processes used, or None where no group counts them."""
        if self.usage is None or not self.usage.is_file():
            return None
        text = self.usage.read_text()
        if self.usage.name == "cpuacct.usage":
            return int(text) / 1e9
        for line in text.splitlines():
            if line.startswith("usage_usec"):
                return int(line.split()[1]) / 1e6
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--no-train", action="store_true", help="no bookembed train beside the readers")
    parser.add_argument("--train-nice", type=int, default=0, help="the training command's nice value (default 0)")
    parser.add_argument("--tabs", action="store_true",
                        help="the sessions are tabs of one browser (a shared cache), not one new visitor each")
    parser.add_argument("--browsers-as-one", action="store_true",
                        help="the browser weighs as one program in a CPU control group (readers on other machines)")
    parser.add_argument("--ceiling", type=float, default=600.0, help="give up on a reader after this many seconds")
    add_hogs_option(parser)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-readers-"))
    group = BrowserGroup(work, args.browsers_as_one)
    try:
        models = work / "models"
        shutil.copytree(ROOT / "models" / "demo", models / "demo")
        with Server(models, work / "server.log") as server:
            server.wait_healthy(timeout=args.ceiling)
            trainer = None if args.no_train else Trainer(work / "trained", nice=args.train_nice)
            with busy(args.hogs):
                load = load_average()
                cpu_before = cpu_seconds(server.proc.pid)
                rows = asyncio.run(run(args, server.url, trainer, work, group.executable))
                server_cpu = cpu_seconds(server.proc.pid) - cpu_before
                browser_cpu = group.cpu_seconds()
            log_text = (work / "server.log").read_text(errors="replace")
        times = [r["seconds"] for r in rows if r["seconds"] is not None]
        failed = [r for r in rows if r["error"]]
        tracebacks = log_text.count("Traceback")
        shown = sum(r["exceptions_shown"] for r in rows)
        summary = {
            "what": f"{args.sessions} sessions on Search and Map, "
                    + ("tabs of one browser" if args.tabs else "each a new visitor")
                    + ("" if args.no_train else ", bookembed train beside")
                    + (f" at nice {args.train_nice}" if args.train_nice and not args.no_train else "")
                    + (", the browser weighing as one program" if args.browsers_as_one else ""),
            "hogs": args.hogs,
            "sessions": args.sessions,
            "median_s": round(statistics.median(times), 2) if times else None,
            "slowest_s": round(max(times), 2) if times else None,
            "search_slowest_s": round(max((r["seconds"] for r in rows if r["page"] == "search" and r["seconds"]),
                                          default=0), 2),
            "map_slowest_s": round(max((r["seconds"] for r in rows if r["page"] == "map" and r["seconds"]),
                                       default=0), 2),
            "no_result": len(failed),
            "exceptions": tracebacks + shown,
            "server_cpu_s": round(server_cpu, 1),
            "browser_cpu_s": round(browser_cpu, 1) if browser_cpu is not None else None,
            "training_runs": trainer.runs if trainer else 0,
            "load_average": load,
        }
        for r in failed[:5]:
            print("no result:", r["page"], r["error"])
        print(summary)
        print("written:", record("readers", [summary]))
    finally:
        group.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
