"""Every stage of a training run is named, in order, with its time; no display stays silent."""

from __future__ import annotations

import io
import time

import pytest

from bookembed import stages
from bookembed.stages import STAGES, StageLog, StatusLine, format_rate, format_seconds
from bookembed.training import TrainConfig

from conftest import WAIT_CEILING_S


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _wait_until(condition, ceiling: float = WAIT_CEILING_S) -> None:
    """Poll for ``condition``; a ceiling, never a sleep of fixed length that the test relies on."""
    deadline = time.monotonic() + ceiling
    while not condition():
        assert time.monotonic() < deadline, "condition not met before the ceiling"
        time.sleep(0.01)


@pytest.mark.parametrize("baselines", [True, False])
def test_training_announces_every_stage_in_order(tmp_path, tiny_path, baselines):
    from bookembed.pipeline import train_model_folder

    heard: list[tuple[str, str]] = []
    train_model_folder(tiny_path, tmp_path / "m", TrainConfig(epochs=2, dim=6, seed=0), baselines=baselines,
                       on_stage=lambda stage, detail: heard.append((stage, detail)))
    expected = [s for s in STAGES if baselines or s != "baselines"]
    assert [stage for stage, _ in heard] == expected
    assert all(detail for _, detail in heard)  # each says what it is doing
    assert "books" in dict(heard)["training"] and "records" in dict(heard)["cleaning"]


def test_a_pairs_table_announces_reading_and_cleaning_too(tmp_path):
    from bookembed.corpus import load_corpus

    table = tmp_path / "pairs.csv"
    table.write_text("item,link\n" + "".join(f"b{i},l{j}\n" for i in range(6) for j in range(5)), encoding="utf-8")
    heard = []
    load_corpus(table, on_stage=lambda stage, detail: heard.append(stage))
    assert heard == ["cleaning"]


def test_stage_log_times_each_stage_and_refuses_unknown_ones():
    clock = FakeClock()
    log = StageLog(clock=clock)
    log.start("reading", "books.ndjson")
    clock.now += 1.5
    assert log.elapsed() == pytest.approx(1.5)
    assert log.line() == "reading 1.5 s: books.ndjson"
    log.start("training", "3 books")
    log.note = "epoch 1/2, 8.2M examples/s"
    clock.now += 42
    assert log.line() == "training 42 s: 3 books · epoch 1/2, 8.2M examples/s"
    log.finish()
    assert log.summary() == "reading 1.5 s · training 42 s"
    assert log.total() == pytest.approx(43.5)
    with pytest.raises(ValueError, match="unknown stage"):
        log.start("napping")


def test_formats_read_as_a_person_would_say_them():
    assert format_seconds(0.42) == "0.4 s" and format_seconds(12.4) == "12 s" and format_seconds(185) == "3 min 05 s"
    assert format_rate(8_234_000) == "8.2M examples/s" and format_rate(51_200) == "51k examples/s"
    assert format_rate(12) == "12 examples/s"


def test_status_line_keeps_talking_while_a_stage_reports_nothing(monkeypatch):
    """Off a terminal: a heartbeat line at most every HEARTBEAT_S while a silent stage runs."""
    monkeypatch.setattr(stages, "HEARTBEAT_S", 0.05)
    out = io.StringIO()
    with StatusLine(out, interval=0.01, tty=False) as status:
        status.stage("evaluating", "held-out AUC")
        _wait_until(lambda: out.getvalue().count("evaluating") >= 3)
        status.stage("saving", "m/")
    lines = out.getvalue().splitlines()
    assert lines[0] == "evaluating 0.0 s: held-out AUC"
    heartbeats = [line for line in lines if line.startswith("evaluating")]
    assert len(heartbeats) >= 3 and heartbeats[-1] != heartbeats[0]  # the elapsed time moves
    assert lines[-1].startswith("done in ") and "evaluating" in lines[-1] and "saving" in lines[-1]


def test_status_line_redraws_in_place_on_a_terminal_and_says_where_it_stopped():
    out = io.StringIO()
    with pytest.raises(RuntimeError):
        with StatusLine(out, interval=0.01, tty=True) as status:
            status.stage("training", "3 books")
            status.progress("epoch 1/2, 50%")
            _wait_until(lambda: out.getvalue().count("\r") >= 4)
            status.message(["corpus: 3 books"])
            raise RuntimeError("boom")
    text = out.getvalue()
    assert "\rtraining" in text and "epoch 1/2, 50%" in text
    assert "corpus: 3 books\n" in text
    assert text.rstrip("\n").splitlines()[-1].split("\r")[-1].startswith("stopped during training in ")


def test_bookembed_train_names_every_stage_with_its_time(tmp_path, tiny_path, capsys):
    from bookembed.cli import main

    assert main(["train", "--data", str(tiny_path), "--out", str(tmp_path / "m"), "--epochs", "2", "--dim", "6",
                 "--baselines"]) == 0
    err = capsys.readouterr().err
    starts = [line.split(" ", 1)[0] for line in err.splitlines() if line.split(" ", 1)[0] in STAGES]
    assert list(dict.fromkeys(starts)) == list(STAGES)  # each stage shown, in order
    done = [line for line in err.splitlines() if line.startswith("done in ")]
    assert len(done) == 1 and all(stage in done[0] for stage in STAGES)
    assert "step/s" not in err  # no step rate that says nothing about the work
