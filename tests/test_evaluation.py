"""The evaluation protocols give the numbers a direct computation gives."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraslab import analysis, data, evaluation, layers, models, training, zoo


@pytest.fixture(scope="module")
def tiny_classifier():
    """An untrained SmallCNN and 96 sample test images (three batches, the last one short)."""
    keras.utils.set_random_seed(0)
    model = zoo.build("small_cnn", dataset="fashion_mnist_sample")
    test = data.load("fashion_mnist_sample", "test", batch_size=40, shuffle=False, limit=96)
    return model, test


def test_classifier_accuracy_and_loss_are_those_of_the_logits(tiny_classifier):
    model, test = tiny_classifier
    metrics = evaluation.evaluate_classifier(model, test)
    assert set(metrics) == {"test_accuracy", "test_loss"}
    logits = np.concatenate([model(x, training=False) for x, _ in test]).astype(np.float64)
    labels = np.concatenate([y for _, y in test])
    log_p = logits - logits.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    assert metrics["test_accuracy"] == pytest.approx(np.mean(logits.argmax(1) == labels))
    assert metrics["test_loss"] == pytest.approx(-log_p[np.arange(96), labels].mean(), rel=1e-5)


def test_classifier_robustness_is_the_analysis_functions_at_the_fixed_epsilons(tiny_classifier):
    model, test = tiny_classifier
    spec = data.get_spec("fashion_mnist_sample")
    with pytest.raises(ValueError, match="needs the dataset's mean and std"):
        evaluation.evaluate_classifier(model, test, robustness=True)
    metrics = evaluation.evaluate_classifier(
        model, test, robustness=True, mean=spec.mean, std=spec.std
    )
    curve = analysis.fgsm_accuracy(model, test, (0.02, 0.05, 0.1), mean=spec.mean, std=spec.std)
    assert metrics["fgsm_accuracy"] == {
        "0.02": curve.at(0.02),
        "0.05": curve.at(0.05),
        "0.1": curve.at(0.1),
    }
    assert metrics["jacobian_frobenius_mean"] == pytest.approx(
        analysis.jacobian_norms(model, test).mean, rel=1e-6
    )
    assert metrics["transformed_accuracy"] == evaluation.transformed_accuracy(model, test)


def test_transformed_accuracy_is_seeded_and_counts_each_transformation(tiny_classifier):
    model, test = tiny_classifier
    first = evaluation.transformed_accuracy(model, test, seed=3)
    keras.utils.set_random_seed(99)  # the protocol reseeds: what ran before does not matter
    assert evaluation.transformed_accuracy(model, test, seed=3) == first
    # The same count by hand: the transformations draw from the reseeded global generators
    # in the protocol's order (batch by batch, transformation by transformation).
    keras.utils.set_random_seed(3)
    transforms = training.default_invariance_transforms()
    assert list(first) == [repr(t) for t in transforms]
    correct, total = np.zeros(len(transforms)), 0
    for x, y in test:
        for i, t in enumerate(transforms):
            correct[i] += np.sum(np.argmax(model(t(x), training=False), -1) == np.asarray(y))
        total += len(y)
    assert list(first.values()) == [float(c / total) for c in correct]


def test_sparse_coder_protocol_reports_every_layer_and_the_baselines():
    problem = data.get_problem("gaussian_25x50")
    keras.utils.set_random_seed(0)
    model = models.lista(problem.A, T=3, variant="alista", lam=0.4, return_all=True)
    metrics = evaluation.evaluate_sparse_coder(model, "gaussian_25x50")
    x, z = problem.sample(evaluation.SPARSE_TEST_EXAMPLES, seed=data.PROBLEM_SEEDS["test"])
    per_layer = training.per_layer_nmse(model, x, z)
    assert metrics["test_nmse_db"] == per_layer[-1]
    assert metrics["test_nmse_db_per_layer"] == [round(v, 3) for v in per_layer]
    assert metrics["test_examples"] == 1000 and metrics["baseline_lambda"] == 0.1
    assert list(metrics["baselines_nmse_db"]) == ["ista_3", "fista_3", "ista_1000", "fista_1000"]
    ista = layers.ISTA(problem.A, lam=0.1, num_iterations=3)(tf.constant(x))
    assert metrics["baselines_nmse_db"]["ista_3"] == float(models.nmse_db(ista, z))
    # The problem object and its name give the same protocol.
    assert evaluation.evaluate_sparse_coder(model, problem) == metrics


def test_measure_robustness_takes_its_epsilons_and_a_jacobian_sample_limit(tiny_classifier):
    model, test = tiny_classifier
    spec = data.get_spec("fashion_mnist_sample")
    measured = evaluation.measure_robustness(
        model, test, mean=spec.mean, std=spec.std, epsilons=[0.0, 0.03], jacobian_samples=50
    )
    curve = analysis.fgsm_accuracy(model, test, [0.0, 0.03], mean=spec.mean, std=spec.std)
    assert measured.fgsm == curve and measured.fgsm.clean_accuracy == curve.accuracy[0]
    assert measured.fgsm_accuracy() == {"0": curve.accuracy[0], "0.03": curve.accuracy[1]}
    # The first 50 of the 96 images: the first batch of 40 and 10 of the second.
    assert measured.jacobian.norms.shape == (50,)
    full = analysis.jacobian_norms(model, test).norms
    np.testing.assert_allclose(measured.jacobian.norms, full[:50], rtol=1e-6)
    # Its defaults are the classifier protocol's.
    default = evaluation.measure_robustness(model, test, mean=spec.mean, std=spec.std)
    assert default.fgsm.epsilons == list(evaluation.ROBUSTNESS_EPSILONS)
    assert default.jacobian.norms.shape == (96,)


def test_solver_nmse_curve_is_the_nmse_of_each_iteration():
    problem = data.get_problem("gaussian_25x50")
    x, z = problem.sample(300, seed=5)  # two chunks of 250 and 50 signals
    curve = evaluation.solver_nmse_curve(layers.FISTA, problem.A, 0.1, x, z, iterations=20)
    assert curve.shape == (20,) and curve.dtype == np.float64
    for k in (1, 7, 20):
        z_k = layers.FISTA(problem.A, lam=0.1, num_iterations=k)(tf.constant(x))
        assert curve[k - 1] == pytest.approx(float(models.nmse_db(z_k, z)), abs=1e-3)
    # FISTA at λ = 0.1 gets closer to the true codes over these first iterations.
    assert curve[-1] < curve[0] - 3.0
