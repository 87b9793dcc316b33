"""Sparse-coder export: signal → code and reconstruction in a TensorFlow-only process, with the
dictionary shipped beside it."""

import hashlib
import json

import numpy as np
import pytest

from keraslab.data.synthetic import sparse_coding_problem
from keraslab.errors import ExportExistsError, InputSpecError
from keraslab.export import run_in_tensorflow_only_process
from keraslab.export.sparse_coder import saved_sparse_coder
from keraslab.models.lista import lista


def test_exported_sparse_coder_serves_the_models_codes_and_ships_its_dictionary(tmp_path):
    problem = sparse_coding_problem(m=20, n=40, seed=0)
    model = lista(problem.A, T=3, variant="lista_cpss", return_all=True)
    path = saved_sparse_coder(
        model, tmp_path, "coder", dictionary=problem.A, metadata={"nmse_db": -12.5}
    )
    assert path == tmp_path / "coder" / "1"
    x, _ = problem.sample(8, seed=1)
    expected = np.asarray(model(x)[-1])
    report, out = run_in_tensorflow_only_process(
        path, {"sparse_code": {"signal": x}, "serving_default": {"signal": x}}
    )
    assert report["keraslab_modules"] == []
    for sig in ("sparse_code", "serving_default"):
        np.testing.assert_allclose(out[sig]["code"], expected, atol=1e-6)
        np.testing.assert_allclose(
            out[sig]["reconstruction"], expected @ problem.A.T.astype(np.float32), atol=1e-5
        )
    shipped = np.load(path / "assets.extra" / "dictionary.npy")
    np.testing.assert_array_equal(shipped, problem.A.astype(np.float32))
    info = json.loads((path / "assets.extra" / "keraslab.json").read_text())
    digest = hashlib.sha256((path / "assets.extra" / "dictionary.npy").read_bytes()).hexdigest()
    assert info["dictionary"] == {"file": "dictionary.npy", "shape": [20, 40], "sha256": digest}
    assert info["task"] == "sparse_coding" and info["nmse_db"] == -12.5
    with pytest.raises(ExportExistsError, match="never overwritten"):
        saved_sparse_coder(model, tmp_path, "coder", 1, dictionary=problem.A)


def test_bad_dictionary_or_model_is_one_clear_error(tmp_path):
    problem = sparse_coding_problem(m=20, n=40, seed=0)
    model = lista(problem.A, T=2, variant="alista")
    with pytest.raises(InputSpecError, match=r"must be \(m, n\) with m = 20"):
        saved_sparse_coder(model, tmp_path, "coder", dictionary=problem.A.T)
    assert not (tmp_path / "coder" / "1").exists()
