"""Settings: defaults, then QA_* variables, then flags; bad values name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.config import Config
from qa.errors import ConfigError


def test_defaults_are_private_and_local() -> None:
    cfg = Config.from_env({})
    assert cfg == Config()
    assert cfg.serving.host == "127.0.0.1"
    assert cfg.serving.log_questions is False
    assert cfg.search.mode == "hybrid"


def test_env_overrides_defaults() -> None:
    cfg = Config.from_env(
        {
            "QA_INDEX_DIR": "/tmp/ix",
            "QA_K": "7",
            "QA_MIN_SCORE": "0.25",
            "QA_MODE": "lexical",
            "QA_USE_HISTORY": "off",
            "QA_LOG_QUESTIONS": "yes",
            "UNRELATED": "x",
        }
    )
    assert cfg.paths.index_dir == Path("/tmp/ix")
    assert cfg.search.k == 7 and cfg.abstention.min_score == 0.25 and cfg.search.mode == "lexical"
    assert cfg.search.use_history is False and cfg.serving.log_questions is True


def test_flags_override_env_and_unset_flags_do_not() -> None:
    cfg = Config.from_env({"QA_K": "7", "QA_CORPUS_DIR": "env_corpus"}).replace(
        k=2, corpus_dir=None, mode=None
    )
    assert cfg.search.k == 2
    assert cfg.paths.corpus_dir == Path("env_corpus")
    assert cfg.search.mode == "hybrid"


def test_gradio_variables_apply_unless_qa_ones_are_set() -> None:
    cfg = Config.from_env({"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "8001"})
    assert (cfg.serving.host, cfg.serving.port) == ("0.0.0.0", 8001)
    cfg = Config.from_env(
        {
            "GRADIO_SERVER_NAME": "0.0.0.0",
            "QA_HOST": "127.0.0.2",
            "GRADIO_SERVER_PORT": "8001",
            "QA_PORT": "9000",
        }
    )
    assert (cfg.serving.host, cfg.serving.port) == ("127.0.0.2", 9000)


def test_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_CHUNK_TOKENS", "99")
    assert Config.from_env().indexing.chunk_tokens == 99


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"QA_K": "five"}, "QA_K"),
        ({"QA_MIN_SCORE": "high"}, "QA_MIN_SCORE"),
        ({"QA_USE_HISTORY": "maybe"}, "QA_USE_HISTORY"),
        ({"GRADIO_SERVER_PORT": "http"}, "QA_PORT"),
        ({"QA_MODE": "semantic"}, "mode"),
        ({"QA_K": "0"}, "k"),
        ({"QA_CHUNK_TOKENS": "-5"}, "chunk_tokens"),
        ({"QA_OVERLAP_SENTENCES": "9"}, "overlap_sentences"),
        ({"QA_MIN_SCORE": "2"}, "min_score"),
        ({"QA_SCOPE_FALSE_RATE": "1.7"}, "scope_false_rate"),
        ({"QA_MENTION_RATE": "-0.1"}, "mention_rate"),
        ({"QA_PORT": "0"}, "port"),
        ({"QA_CONCURRENCY": "0"}, "concurrency"),
        ({"QA_SESSIONS": "-1"}, "sessions"),
    ],
)
def test_bad_values_raise_config_error_naming_the_field(env: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        Config.from_env(env)


def test_mode_error_lists_the_allowed_values() -> None:
    with pytest.raises(ConfigError, match="dense, lexical, hybrid"):
        Config.of(mode="semantic")


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Config.of(k=-1)


def test_replace_validates_too() -> None:
    with pytest.raises(ConfigError, match="rrf_k"):
        Config().replace(rrf_k=0)


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Config().search.k = 3  # type: ignore[misc]


def test_settings_are_grouped_by_concern_and_named_once() -> None:
    """Each flat name lives in exactly one group; replace and of route it there; an unknown name is an error."""
    from qa.config import _HOME, GROUPS

    names = [f for cls in GROUPS.values() for f in cls.__dataclass_fields__]
    assert len(names) == len(set(names)) == len(_HOME)
    cfg = Config.of(k=3, min_score=0.1, corpus_dir=Path("x"), adapt=False, port=9000)
    assert (cfg.search.k, cfg.abstention.min_score, cfg.paths.corpus_dir) == (3, 0.1, Path("x"))
    assert (cfg.learning.adapt, cfg.serving.port) == (False, 9000)
    assert cfg.flat()["k"] == 3 and set(cfg.flat()) == set(_HOME)
    assert Config().replace(k=None) == Config()  # an unset flag changes nothing
    with pytest.raises(ConfigError, match="unknown setting 'kk'"):
        Config().replace(kk=1)
