"""A node keeps every model it installed; one is in use, and the IT team can roll back to an
earlier one without losing anything."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from avance.kit.errors import ConfigurationError, NotFound
from avance.risk.learning.frame import normalize
from avance.risk.learning.model import FitOptions, RiskModel, fit
from avance.risk.learning.registry import CURRENT, current_model_dir, install, list_models, read_metadata, use

T0 = datetime(2026, 6, 1, 4, 37, 59, tzinfo=timezone.utc)


def _frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 240
    hs = rng.choice(["851712", "870323", "610910"], n)
    origin = rng.choice(["CN", "FR"], n)
    fraud = ((hs == "851712") & (origin == "CN") & (rng.random(n) < 0.8)) | (rng.random(n) < 0.05)
    return normalize(
        pd.DataFrame(
            {
                "id": [f"R{i}" for i in range(n)],
                "date": [pd.Timestamp(date(2026, 1, 1) + timedelta(days=i // 8)) for i in range(n)],
                "hs_code": hs,
                "origin": origin,
                "value": rng.lognormal(10, 1, n),
                "net_mass": rng.lognormal(5, 1, n),
                "fraud": fraud.astype(float),
            }
        )
    )


@pytest.fixture(scope="module")
def models() -> tuple[RiskModel, RiskModel]:
    options = FitOptions(n_estimators=20, holdout_fraction=0.0)
    return fit(_frame(1), options), fit(_frame(2), options)


def test_installing_a_model_puts_it_in_use_in_a_new_directory(tmp_path, models):
    first, _ = models
    path = install(first, tmp_path / "models", now=T0)
    assert path.parent == tmp_path / "models"
    assert path.name.startswith("20260601T043759Z-") and len(path.name) == len("20260601T043759Z-") + 8
    assert (tmp_path / "models" / CURRENT).read_text().strip() == path.name
    assert current_model_dir(tmp_path / "models") == path
    loaded = RiskModel.load(path)
    frame = _frame(3)
    assert np.array_equal(loaded.score(frame).fraud, first.score(frame).fraud)
    assert read_metadata(path)["training_window"] == first.metadata["training_window"]
    leftovers = [p.name for p in (tmp_path / "models").iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no staging directory or temporary CURRENT left behind


def test_a_new_model_takes_over_and_the_previous_one_can_be_put_back(tmp_path, models):
    first, second = models
    directory = tmp_path / "models"
    old = install(first, directory, now=T0)
    new = install(second, directory, now=T0 + timedelta(days=7))
    assert current_model_dir(directory) == new
    listed = list_models(directory)
    assert [m.name for m in listed] == [old.name, new.name]
    assert [m.current for m in listed] == [False, True]
    assert listed[0].installed_at == T0
    assert listed[1].summary()["rows"] == second.metadata["rows"]
    assert use(directory, old.name) == old
    assert current_model_dir(directory) == old
    assert [m.current for m in list_models(directory)] == [True, False]


def test_installing_without_taking_over_keeps_the_model_in_use(tmp_path, models):
    first, second = models
    kept = install(first, tmp_path, now=T0)
    staged = install(second, tmp_path, now=T0 + timedelta(hours=1), make_current=False)
    assert current_model_dir(tmp_path) == kept and staged.is_dir()


def test_the_same_model_installed_twice_in_one_second_is_kept_once(tmp_path, models):
    first, _ = models
    assert install(first, tmp_path, now=T0) == install(first, tmp_path, now=T0)
    assert len(list_models(tmp_path)) == 1


def test_a_node_without_models_says_so(tmp_path):
    assert current_model_dir(tmp_path / "models") is None
    assert list_models(tmp_path / "models") == []


def test_rolling_back_to_a_model_that_does_not_exist_is_refused(tmp_path, models):
    install(models[0], tmp_path, now=T0)
    for name in ("20200101T000000Z-deadbeef", "../etc", "CURRENT"):
        with pytest.raises(NotFound) as caught:
            use(tmp_path, name)
        assert name in caught.value.message("en")


def test_a_removed_model_in_use_is_a_configuration_error_not_a_silent_fallback(tmp_path, models):
    path = install(models[0], tmp_path, now=T0)
    shutil.rmtree(path)
    with pytest.raises(ConfigurationError) as caught:
        current_model_dir(tmp_path)
    assert path.name in caught.value.message("fr") and "avance model" in caught.value.message("fr")
