"""Settings declared once (DESIGN habit 17): every field of TrainConfig and CleaningConfig carries its help and
bounds, and the ``train`` command's flags and the Train page's widgets are made from them, so all three agree."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT, TINY_BOOKS, WAIT_CEILING_S, assert_one_line_error, run_cli, write_ndjson

from bookembed.cli import build_parser, main
from bookembed.corpus import CleaningConfig
from bookembed.errors import BookembedError
from bookembed.settings import Setting, cli_help, config_from_args, from_values, offered, setting, settings
from bookembed.training import TrainConfig

CONFIGS = (TrainConfig, CleaningConfig)
OFFERED = [s for cls in CONFIGS for s in offered(cls)]
# train's flags that are not settings of a config: what to read, where to write, how to report
RUN_FLAGS = {"--data", "--out", "--metadata", "--baselines", "--overwrite", "--skip-bad-lines"}  # and -q


def ids(items):
    return [s.name for s in items]


def train_args(*extra: str):
    return build_parser().parse_args(["train", "--data", "demo", *extra])


def config_of(s: Setting) -> type:
    return next(cls for cls in CONFIGS if s in settings(cls))


def outside(s: Setting) -> list:
    """Values just beyond each declared bound of ``s`` (an exclusive bound itself is outside)."""
    if s.type not in (int, float):
        return []
    nudge = 1 if s.type is int else (s.step or 0.01)
    values = []
    if s.min is not None:
        values.append(s.type(s.min - nudge))
    if s.above is not None:
        values.append(s.type(s.above))
    if s.max is not None:
        values.append(s.type(s.max + nudge))
    if s.below is not None:
        values.append(s.type(s.below))
    return values


def another_value(s: Setting):
    """An allowed value other than the default, for checking that a widget's value reaches the config."""
    if s.choices:
        return next(c for c in s.choices if c != s.default)
    if s.type is int:
        return (s.default if s.default is not None else s.low) + 1
    if s.default is None:
        return round((s.low + s.high) / 4, 3)
    up = round(s.default + (s.step or 0.01), 6)
    return up if s.problem(up) is None else round(s.default - (s.step or 0.01), 6)


# ---------------------------------------------------------------- the declarations


def test_every_training_field_is_declared_and_offered():
    for s in settings(TrainConfig):
        assert s.help and s.label and s.flag, s.name
        assert s.flag == "--" + s.name.replace("_", "-"), s.name
    for s in settings(CleaningConfig):
        assert s.help, s.name
    assert {s.name for s in offered(CleaningConfig)} >= {"min_link_count", "min_book_links"}
    # a default of None says what it means, and every default is itself allowed
    for s in OFFERED:
        assert s.default is not None or s.none, s.name
        assert s.problem(s.default) is None, s.name


def test_types_and_none_come_from_the_annotations():
    by_name = {s.name: s for s in settings(TrainConfig)}
    assert (by_name["seed"].type, by_name["seed"].optional) == (int, False)
    assert (by_name["dim"].type, by_name["dim"].optional) == (int, True)  # None: by goal
    assert (by_name["batch_size"].type, by_name["batch_size"].optional) == (int, True)
    assert (by_name["learning_rate"].type, by_name["learning_rate"].optional) == (float, True)
    assert by_name["task"].widget == "select" and by_name["dim"].widget == "number"
    assert {s.name: s.type for s in settings(CleaningConfig)}["lowercase_links"] is bool


def test_unknown_metadata_keys_are_refused():
    with pytest.raises(TypeError, match="maximum"):
        setting(1, "help", maximum=3)


def test_from_values_reads_an_emptied_box_as_the_default_and_keeps_none_where_it_means_something():
    config = from_values(TrainConfig, {"dim": None, "epochs": 3.0, "batch_size": None, "threads": None})
    assert config.dim == TrainConfig().dim and config.epochs == 3 and isinstance(config.epochs, int)
    assert config.batch_size is None and config.threads is None


# ---------------------------------------------------------------- out of bounds: one line naming field and value


@pytest.mark.parametrize("s", [s for s in OFFERED if outside(s)], ids=ids([s for s in OFFERED if outside(s)]))
def test_out_of_bounds_values_are_refused_in_one_line(s):
    cls = config_of(s)
    for value in outside(s):
        with pytest.raises(BookembedError) as caught:
            cls(**{s.name: value})
        message = str(caught.value)
        assert "\n" not in message and message.startswith(f"{s.name} must be ") and f"got {value!r}" in message
    for edge in (s.min, s.max):  # inclusive bounds are allowed
        if edge is not None:
            cls(**{s.name: s.type(edge)})


@pytest.mark.parametrize("field, value, words", [
    ("dim", 8.5, "dim must be a whole number, got 8.5"),
    ("epochs", "3", "epochs must be a number, got '3'"),
    ("learning_rate", math.nan, "learning_rate must be a finite number, got nan"),
    ("learning_rate", 0.0, "learning_rate must be greater than 0, got 0.0"),
    ("heldout_share", 0.5, "heldout_share must be less than 0.5, got 0.5"),
    ("optimizer", "rmsprop", "optimizer must be one of adam, sgd, got 'rmsprop'"),
])
def test_messages_name_the_field_the_value_and_the_rule(field, value, words):
    with pytest.raises(BookembedError) as caught:
        TrainConfig(**{field: value})
    assert str(caught.value) == words


def test_several_bad_fields_are_one_line():
    with pytest.raises(BookembedError) as caught:
        TrainConfig(dim=0, epochs=0)
    assert str(caught.value) == "dim must be at least 1, got 0; epochs must be at least 1, got 0"


# ---------------------------------------------------------------- the command line


def test_every_setting_has_its_flag_with_the_declared_default():
    defaults = train_args()
    for s in OFFERED:
        assert getattr(defaults, s.name) == s.default, s.name  # None stays None: "automatic" / the optimizer's
    assert config_from_args(defaults, TrainConfig) == TrainConfig()
    assert config_from_args(defaults, CleaningConfig) == CleaningConfig()


@pytest.mark.parametrize("s", OFFERED, ids=ids(OFFERED))
def test_each_flag_sets_its_field(s):
    value = another_value(s)
    config = config_from_args(train_args(s.flag, str(value)), config_of(s))
    assert getattr(config, s.name) == (pytest.approx(value) if s.type is float else value)


def test_the_flags_are_exactly_the_settings_and_the_run_options(monkeypatch):
    from contextlib import redirect_stdout
    from io import StringIO

    monkeypatch.setenv("COLUMNS", "1000")  # one line per option: no wrapping inside the help texts
    text = StringIO()
    with redirect_stdout(text), pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    helped = text.getvalue()
    usage = helped.split("\n\n")[0]  # "usage: bookembed train [-h] --data DATA [--out OUT] ..."
    flags = {word.strip("[]|") for word in usage.split() if word.startswith(("--", "[--"))}
    flags = {f.split("=")[0] for f in flags if f.startswith("--") and not f.startswith("--no-")} - {"--help"}
    assert flags == {s.flag for s in OFFERED} | RUN_FLAGS
    for s in OFFERED:  # --help shows each setting's declared help, range and default
        assert cli_help(s).replace("%%", "%") in helped, s.name


@pytest.mark.parametrize("s", [s for s in OFFERED if outside(s)], ids=ids([s for s in OFFERED if outside(s)]))
def test_the_cli_refuses_out_of_bounds_values_in_one_line(s, tmp_path, capsys):
    out = tmp_path / "never"
    for value in outside(s):
        code = main(["train", "--data", str(tmp_path / "none.ndjson"), "--out", str(out), s.flag, str(value)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code != 0
        assert len(err) == 1 and err[0].startswith(f"bookembed: error: {s.name} must be "), err
        assert not out.exists()


def test_the_cli_refuses_a_bad_value_in_a_fresh_process(tmp_path):
    proc = run_cli("train", "--data", "none.ndjson", "--out", tmp_path / "never", "--negative-power", "3",
                   cwd=tmp_path)
    assert_one_line_error(proc, "negative_power must be at most 2, got 3.0")


# ---------------------------------------------------------------- the Train page


def train_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=WAIT_CEILING_S)
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def widget(at: AppTest, s: Setting):
    key = f"train_{s.name}"
    return at.selectbox(key=key) if s.widget == "select" else at.number_input(key=key)


def train_button(at: AppTest):
    return next(b for b in at.button if b.label == "Train")


def test_the_page_offers_every_setting_with_the_clis_default_and_bounds(models):
    at = train_page()
    defaults = train_args()
    for s in OFFERED:
        w = widget(at, s)
        assert w.label == s.label and w.help == s.help, s.name
        assert w.value == getattr(defaults, s.name) == s.default, s.name
        if s.widget == "select":
            assert list(w.options) == [str(c) for c in s.choices], s.name
        else:
            assert (w.min, w.max) == (s.low, s.high), s.name
    advanced = next(e for e in at.expander if e.label == "Advanced settings")
    inside = {w.key for w in advanced.number_input} | {w.key for w in advanced.selectbox}
    assert inside == {f"train_{s.name}" for s in OFFERED if s.advanced}


def test_every_widget_reaches_the_config(models, tmp_path, monkeypatch):
    from bookembed import pipeline

    seen: dict = {}
    called = threading.Event()

    def fake_train(source, out, config, cleaning, **kwargs):
        seen.update(config=config, cleaning=cleaning)
        called.set()
        raise BookembedError("stopped before training")

    monkeypatch.setattr(pipeline, "train_model_folder", fake_train)
    at = train_page()
    at.text_input[0].input("mine")
    at.radio[0].set_value("upload").run()
    at.file_uploader[0].set_value(("tiny.ndjson", write_ndjson(tmp_path / "tiny.ndjson", TINY_BOOKS).read_bytes(),
                                   "application/x-ndjson"))
    chosen = {s.name: another_value(s) for s in OFFERED}
    for s in OFFERED:
        widget(at, s).set_value(chosen[s.name])
    train_button(at).click().run()
    assert called.wait(WAIT_CEILING_S)
    for _ in range(120):  # let the job end and show its error, so the next test starts clean
        if at.error:
            break
        time.sleep(0.5)
        at.run()
    for s in OFFERED:
        got = getattr(seen["config" if config_of(s) is TrainConfig else "cleaning"], s.name)
        assert got == (pytest.approx(chosen[s.name]) if s.type is float else chosen[s.name]), s.name


def test_the_page_refuses_an_out_of_bounds_value_in_one_line(models):
    at = train_page()
    at.number_input(key="train_heldout_share").set_value(0.5)  # the box's top, an exclusive bound
    train_button(at).click().run()
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert "Check the settings" in shown and "heldout_share must be less than 0.5, got 0.5" in shown.replace("\\", "")
    assert not any(models.iterdir())
