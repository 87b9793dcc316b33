"""savedmodels/manifest.json: every record is well formed for its zoo entry, and the recorded
numbers hold what the issues promised. Both only read records (fast); loading and scoring the
shipped models themselves is tests/test_shipped_models.py (slow)."""

from __future__ import annotations

from keraslab import export, zoo

MANIFEST = zoo.manifest()["models"]

#: Every record's keys and their types (written by ``keraslab export NAME --run``).
RECORD_KEYS: dict[str, type | tuple[type, ...]] = {
    "dataset": str,
    "version": int,
    "savedmodel": str,
    "weights": str,
    "signatures": list,
    "metrics": dict,
    "epochs": (int, type(None)),  # None for stage-wise sparse coding
    "wall_time_s": (int, float),
    "parameters": int,
    "recipe": dict,
    "seed": (int, type(None)),
    "machine": dict,
    "train_command": str,
    "export_command": str,
}
#: Keys a record may have besides (``keraslab evaluate NAME --record`` adds the command).
OPTIONAL_KEYS: dict[str, type] = {"note": str, "evaluate_command": str}
#: The metrics each task's records carry, and their types.
TASK_METRICS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "classification": {"test_accuracy": float, "test_loss": float, "test_examples": int},
    "sparse_coding": {
        "test_nmse_db": float,
        "test_nmse_db_per_layer": list,
        "test_examples": int,
        "baselines_nmse_db": dict,
        "baseline_lambda": float,
    },
}
#: Robustness metrics (``--robustness``): a record has all of them or none.
ROBUSTNESS_METRICS = {"jacobian_frobenius_mean", "fgsm_accuracy", "transformed_accuracy"}
#: Test-set sizes: the full Fashion-MNIST test split; 1000 signals of a synthetic problem.
TEST_EXAMPLES = {"classification": 10_000, "sparse_coding": 1000}


def _check_types(where: str, values: dict, types: dict) -> None:
    for key, expected in types.items():
        assert key in values, f"{where}: no {key!r}"
        assert isinstance(values[key], expected), f"{where}: {key!r} is {values[key]!r}"
        assert not isinstance(values[key], bool), f"{where}: {key!r} is a bool"


def test_every_manifest_record_is_well_formed_for_its_zoo_entry():
    """Checks records, not models: for each record of savedmodels/manifest.json, its name is a
    zoo entry (``zoo.list()``); the required keys are there with their types and no unknown
    key; the dataset is one the entry takes; the SavedModel version directory and the Keras
    weights it names exist and the export's own metadata agrees (name, version, dataset,
    signatures); the recorded recipe is the entry's; the metrics its task needs are present."""
    entries = {entry.name: entry for entry in zoo.list()}
    assert MANIFEST, "no records"
    for name, record in MANIFEST.items():
        assert name in entries, f"{name}: a record for no zoo entry"
        entry = entries[name]
        _check_types(name, record, RECORD_KEYS)
        unknown = set(record) - set(RECORD_KEYS) - set(OPTIONAL_KEYS)
        assert not unknown, f"{name}: unknown keys {sorted(unknown)}"
        for key, expected in OPTIONAL_KEYS.items():
            assert isinstance(record.get(key, ""), expected), f"{name}: {key!r}"
        assert record["dataset"] in entry.datasets, f"{name}: {record['dataset']!r}"

        assert record["savedmodel"] == f"{name}/{record['version']}"
        assert record["weights"] == f"{name}/{zoo.WEIGHTS_FILE}"
        savedmodel = zoo.savedmodels_dir() / record["savedmodel"]
        assert (savedmodel / "saved_model.pb").is_file(), f"{name}: no {savedmodel}"
        assert (zoo.savedmodels_dir() / record["weights"]).is_file(), f"{name}: no weights"
        metadata = export.read_metadata(savedmodel)
        assert metadata["zoo_name"] == name and metadata["version"] == record["version"]
        assert metadata["dataset"] == record["dataset"]
        assert record["signatures"] == sorted(metadata["signatures"])
        assert "serving_default" in record["signatures"]

        assert record["train_command"].startswith(f"keraslab train {name}")
        assert record["export_command"].startswith(f"keraslab export {name}")
        recipe = entry.recipe.to_dict()
        differs = {k: v for k, v in record["recipe"].items() if recipe.get(k, v) != v}
        assert not differs, f"{name}: recipe differs from the zoo entry's: {differs}"
        assert record["epochs"] == record["recipe"].get("epochs")

        metrics = record["metrics"]
        _check_types(f"{name} metrics", metrics, TASK_METRICS[entry.task.name])
        assert metrics["test_examples"] == TEST_EXAMPLES[entry.task.name]
        present = ROBUSTNESS_METRICS & set(metrics)
        assert present in (set(), ROBUSTNESS_METRICS), f"{name}: only {sorted(present)}"
        if present:
            assert set(metrics["fgsm_accuracy"]) == {"0.02", "0.05", "0.1"}
            assert len(metrics["transformed_accuracy"]) == 3
            assert metrics["jacobian_frobenius_mean"] > 0
            assert record["evaluate_command"].startswith(f"keraslab evaluate {name} --robustness")


def test_manifest_records_hold_the_numbers_the_issues_promised():
    """Checks records' numbers against each issue's bar (the models themselves are scored in
    tests/test_shipped_models.py, which is slow). Issue 6: each regularized CNN is recorded
    with its zoo penalty and the baseline's recipe otherwise, and its robustness stands next
    to the unregularized `lenet`'s, measured the same way."""
    lenet = MANIFEST["lenet"]
    assert lenet["dataset"] == "fashion_mnist"
    assert lenet["metrics"]["test_accuracy"] >= 0.916  # TensorFlow's 2-conv tutorial baseline
    # Issue 3: scattering + CNN (Oyallon et al. 2017) above 92 %, with its scattering signature.
    assert MANIFEST["scattering_cnn"]["metrics"]["test_accuracy"] >= 0.92
    assert "scattering" in MANIFEST["scattering_cnn"]["signatures"]
    # Issue 4: the trained i-RevNet above 93 %, with its features and inverse signatures.
    irevnet = MANIFEST["irevnet_mnist"]
    assert irevnet["metrics"]["test_accuracy"] >= 0.93
    assert {"features", "inverse", "serving_default"} <= set(irevnet["signatures"])
    # Issue 5: ALISTA at 16 layers reaches −50 dB and beats ISTA and FISTA after 1000 iterations.
    alista = MANIFEST["alista16"]
    assert alista["dataset"] == "gaussian_250x500"
    assert alista["signatures"] == ["serving_default", "sparse_code"]
    nmse, baselines = alista["metrics"]["test_nmse_db"], alista["metrics"]["baselines_nmse_db"]
    assert nmse <= -50 and nmse < min(baselines["ista_1000"], baselines["fista_1000"])
    # Issue 6: the regularized LeNets against the baseline.
    for name in ("lenet_jacobian", "lenet_invariance"):
        record = MANIFEST[name]
        assert record["recipe"]["penalties"] == list(zoo.get(name).recipe.penalties)
        assert record["recipe"]["epochs"] == lenet["recipe"]["epochs"]
        assert record["train_command"] == f"keraslab train {name} --robustness"
        assert (
            set(record["metrics"]) >= ROBUSTNESS_METRICS
            and set(lenet["metrics"]) >= ROBUSTNESS_METRICS
        )
        assert record["metrics"]["test_accuracy"] >= 0.9
        # Both penalties leave a smoother network than the baseline (smaller mean ‖J_f‖_F) ...
        jacobian = record["metrics"]["jacobian_frobenius_mean"]
        assert jacobian < lenet["metrics"]["jacobian_frobenius_mean"], name
    # ... but only the Jacobian penalty buys FGSM robustness, at every ε; the invariance penalty
    # (shifts, rotations, elastic deformations) does not (measured: README's zoo table).
    for eps, accuracy in MANIFEST["lenet_jacobian"]["metrics"]["fgsm_accuracy"].items():
        assert accuracy > lenet["metrics"]["fgsm_accuracy"][eps], eps
    # The invariance penalty buys what it trains for: accuracy on shifted, rotated and
    # elastically deformed test images, under every one of the three.
    for name, accuracy in MANIFEST["lenet_invariance"]["metrics"]["transformed_accuracy"].items():
        assert accuracy > lenet["metrics"]["transformed_accuracy"][name], name
