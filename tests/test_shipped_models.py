"""The models shipped in savedmodels/: they load, serve identically, and score what the manifest
says they score."""

from pathlib import Path

import numpy as np
import pytest

from keraslab import data, export, models, zoo

MANIFEST = zoo.manifest()["models"]
CLASSIFIERS = sorted(n for n in MANIFEST if zoo.get(n).task is zoo.CLASSIFICATION)
FULL_FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def test_the_foundation_ships_lenet_above_the_tutorial_baseline():
    record = MANIFEST["lenet"]
    assert record["dataset"] == "fashion_mnist" and record["metrics"]["test_examples"] == 10_000
    assert record["metrics"]["test_accuracy"] >= 0.916  # TensorFlow's 2-conv tutorial baseline
    assert record["train_command"].startswith("keraslab train lenet")


def test_the_scattering_hybrid_ships_above_92_percent():
    """Issue 3's bar for scattering + CNN (Oyallon et al. 2017) on the full Fashion-MNIST."""
    record = MANIFEST["scattering_cnn"]
    assert record["dataset"] == "fashion_mnist" and record["metrics"]["test_examples"] == 10_000
    assert record["metrics"]["test_accuracy"] >= 0.92
    assert "scattering" in record["signatures"]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_shipped_savedmodel_matches_the_shipped_keras_weights(name):
    record = MANIFEST[name]
    model = zoo.load(name)
    spec = data.get_spec(record["dataset"])
    sample = "fashion_mnist_sample" if spec.image_shape == (28, 28, 1) else record["dataset"]
    images = data.load_arrays(sample, "test").images[:128]
    path = zoo.savedmodels_dir() / record["savedmodel"]
    assert export.read_metadata(path)["preprocessing"]["mean"] == list(spec.mean)
    export.verify(path, model, images)  # raises on any difference


@pytest.mark.full_data
@pytest.mark.skipif(not FULL_FASHION.exists(), reason="apt-get install dataset-fashion-mnist")
@pytest.mark.parametrize(
    "name", sorted(n for n, r in MANIFEST.items() if r["dataset"] == "fashion_mnist")
)
def test_shipped_model_scores_what_the_manifest_says(name):
    record = MANIFEST[name]
    test = data.load_arrays("fashion_mnist", "test")
    predicted = zoo.predict(name, test.images).class_ids
    accuracy = float(np.mean(predicted == test.labels))
    assert accuracy == pytest.approx(record["metrics"]["test_accuracy"], abs=1e-4)


@pytest.mark.skipif("irevnet_mnist" not in MANIFEST, reason="no shipped i-RevNet")
def test_shipped_irevnet_inverts_its_features_in_keras_and_through_tf_serving_signatures():
    """Issue 4: inverse(features(x)) = x to ≤ 1e-5 relative error for the trained model, in
    Keras and through the SavedModel's `features` and `inverse` signatures in a TensorFlow-only
    process (what TF Serving runs)."""
    record = MANIFEST["irevnet_mnist"]
    assert {"features", "inverse", "serving_default"} <= set(record["signatures"])
    assert record["dataset"] == "fashion_mnist" and record["metrics"]["test_examples"] == 10_000
    assert record["metrics"]["test_accuracy"] >= 0.93  # issue 4's bar
    pixels = data.load_arrays("fashion_mnist_sample", "test").images[:32]
    spec = data.get_spec(record["dataset"])
    pre = export.Preprocessing(spec.mean, spec.std)
    model = zoo.load("irevnet_mnist")
    x = pre.apply(pixels.astype(np.float32))
    x_back = np.asarray(model.inverse(model.features(x)))
    keras_error = np.linalg.norm((x_back - x).reshape(32, -1), axis=1) / np.linalg.norm(
        x.reshape(32, -1), axis=1
    )
    assert keras_error.max() <= 1e-5

    path = zoo.savedmodels_dir() / record["savedmodel"]
    _, out = export.run_in_tensorflow_only_process(path, {"features": {"image": pixels}})
    z = out["features"]["features"]
    _, out = export.run_in_tensorflow_only_process(path, {"inverse": {"features": z}})
    back = out["inverse"]["image"].astype(np.float64).reshape(32, -1)
    flat = pixels.astype(np.float64).reshape(32, -1)
    served_error = np.linalg.norm(back - flat, axis=1) / np.linalg.norm(flat, axis=1)
    assert served_error.max() <= 1e-5


@pytest.mark.skipif("alista16" not in MANIFEST, reason="no shipped sparse coder")
def test_shipped_alista_serves_its_codes_at_the_measured_nmse():
    """Issue 5: the shipped 16-layer ALISTA reaches −50 dB on the default noiseless problem,
    beats ISTA and FISTA after 1000 iterations, and its SavedModel serves the Keras model's
    codes with the problem's dictionary, in a TensorFlow-only process."""
    record = MANIFEST["alista16"]
    metrics = record["metrics"]
    assert record["dataset"] == "gaussian_250x500"
    assert metrics["test_nmse_db"] <= -50
    assert metrics["test_nmse_db"] < min(
        metrics["baselines_nmse_db"]["ista_1000"], metrics["baselines_nmse_db"]["fista_1000"]
    )
    assert sorted(record["signatures"]) == ["serving_default", "sparse_code"]
    problem = data.get_problem(record["dataset"])
    x, z = problem.sample(1000, seed=data.PROBLEM_SEEDS["test"])
    model = zoo.load("alista16")
    nmse = float(models.nmse_db(model(x)[-1], z))
    assert nmse == pytest.approx(metrics["test_nmse_db"], abs=0.05)
    path = zoo.savedmodels_dir() / record["savedmodel"]
    np.testing.assert_array_equal(np.load(path / "assets.extra" / "dictionary.npy"), problem.A)
    export.verify_sparse_coder(path, model, x[:64])  # raises on any difference


@pytest.mark.parametrize("name", ["lenet_jacobian", "lenet_invariance"])
def test_regularized_cnns_ship_with_their_robustness_next_to_the_baseline(name):
    """Issue 6: each regularized CNN is trained on the full Fashion-MNIST with its zoo penalty
    and shipped with clean accuracy, mean ‖J_f‖_F on the test set, FGSM accuracy at stated ε and
    accuracy under the invariance transformations, measured the same way as for the
    unregularized `lenet`."""
    record, baseline = MANIFEST[name], MANIFEST["lenet"]
    assert record["dataset"] == "fashion_mnist" and record["metrics"]["test_examples"] == 10_000
    assert record["recipe"]["penalties"] == list(zoo.get(name).recipe.penalties)
    assert record["recipe"]["epochs"] == baseline["recipe"]["epochs"]
    assert record["train_command"] == f"keraslab train {name} --robustness"
    for metrics in (record["metrics"], baseline["metrics"]):
        assert set(metrics["fgsm_accuracy"]) == {"0.02", "0.05", "0.1"}
        assert len(metrics["transformed_accuracy"]) == 3
        assert metrics["jacobian_frobenius_mean"] > 0
        assert metrics["test_accuracy"] >= 0.9
    # Both penalties leave a smoother network than the baseline (smaller mean ‖J_f‖_F) ...
    assert (
        record["metrics"]["jacobian_frobenius_mean"]
        < baseline["metrics"]["jacobian_frobenius_mean"]
    )
    # ... but only the Jacobian penalty buys FGSM robustness, at every ε; the invariance penalty
    # (shifts, rotations, elastic deformations) does not (measured: README's zoo table).
    if name == "lenet_jacobian":
        for eps, accuracy in record["metrics"]["fgsm_accuracy"].items():
            assert accuracy > baseline["metrics"]["fgsm_accuracy"][eps]
    # The invariance penalty buys what it trains for: accuracy on shifted, rotated and
    # elastically deformed test images, under every one of the three.
    if name == "lenet_invariance":
        for transform, accuracy in record["metrics"]["transformed_accuracy"].items():
            assert accuracy > baseline["metrics"]["transformed_accuracy"][transform]
