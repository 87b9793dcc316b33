import json

import keras
import numpy as np
import pytest

from keraslab.errors import UnknownNameError
from keraslab.training import Recipe, build_optimizer, learning_rate_schedule


def lr_at(schedule, step):
    return float(schedule(step)) if callable(schedule) else float(schedule)


def test_constant_cosine_and_step_schedules():
    assert learning_rate_schedule(Recipe(learning_rate=0.01), 10) == 0.01
    cos = learning_rate_schedule(Recipe(epochs=10, learning_rate=0.1, schedule="cosine"), 10)
    assert lr_at(cos, 0) == pytest.approx(0.1)
    assert lr_at(cos, 50) == pytest.approx(0.05, rel=1e-5)
    assert lr_at(cos, 100) == pytest.approx(0.0, abs=1e-7)
    step = learning_rate_schedule(
        Recipe(epochs=4, learning_rate=0.1, schedule="step", step_boundaries=(0.5, 0.75)), 25
    )
    assert [lr_at(step, s) for s in (0, 50, 51, 75, 76)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001]
    )


def test_warmup_ramps_linearly_then_follows_the_schedule():
    sched = learning_rate_schedule(Recipe(epochs=3, learning_rate=0.2, warmup_epochs=1), 10)
    assert lr_at(sched, 0) == pytest.approx(0.02)
    assert lr_at(sched, 4) == pytest.approx(0.1)
    assert lr_at(sched, 10) == pytest.approx(0.2)
    assert lr_at(sched, 29) == pytest.approx(0.2)


def test_optimizers():
    opt = build_optimizer(Recipe(optimizer="sgd", momentum=0.8, weight_decay=5e-4), 10)
    assert isinstance(opt, keras.optimizers.SGD)
    assert opt.momentum == 0.8 and opt.weight_decay == pytest.approx(5e-4)
    assert isinstance(
        build_optimizer(Recipe(optimizer="adamw", weight_decay=0.01), 1), keras.optimizers.AdamW
    )


def test_recipe_round_trip_and_overrides():
    r = Recipe(epochs=3, schedule="step", step_boundaries=[0.3])
    assert Recipe.from_dict(r.to_dict()) == r
    assert r.replace(epochs=None, learning_rate=0.5).learning_rate == 0.5
    assert r.replace(epochs=None).epochs == 3


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"optimizer": "adagrad"}, UnknownNameError, "adam, adamw, sgd"),
        ({"schedule": "linear"}, UnknownNameError, "constant, cosine, step"),
        ({"epochs": 0}, ValueError, "positive"),
        ({"learning_rate": -1.0}, ValueError, "positive"),
        ({"learning_rate": np.nan}, ValueError, "positive"),
        ({"step_boundaries": (1.5,)}, ValueError, "fractions"),
    ],
)
def test_bad_recipes(kwargs, error, match):
    with pytest.raises(error, match=match):
        Recipe(**kwargs)


def test_unknown_override_field():
    with pytest.raises(UnknownNameError, match="epoch"):
        Recipe().replace(epoch=3)


def test_warmup_schedule_round_trips_through_keras_serialization():
    recipe = Recipe(epochs=3, schedule="cosine", learning_rate=0.2, warmup_epochs=1)
    sched = learning_rate_schedule(recipe, 10)
    config = keras.saving.serialize_keras_object(sched)
    assert "keraslab" in json.dumps(config)  # registered under the package name
    again = keras.saving.deserialize_keras_object(json.loads(json.dumps(config)))
    for step in (0, 5, 10, 20, 29):
        assert float(again(step)) == pytest.approx(float(sched(step)), rel=1e-6)
