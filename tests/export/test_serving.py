import pytest

from keraslab.export import (
    BatchingParameters,
    batching_parameters,
    models_config,
    write_models_config,
)


def test_models_config_text_protobuf():
    text = models_config(["resnet20", "lenet"], mount_point="/srv/models/")
    assert text == (
        "model_config_list {\n"
        '  config {\n    name: "lenet"\n    base_path: "/srv/models/lenet"\n'
        '    model_platform: "tensorflow"\n  }\n'
        '  config {\n    name: "resnet20"\n    base_path: "/srv/models/resnet20"\n'
        '    model_platform: "tensorflow"\n  }\n'
        "}\n"
    )
    with pytest.raises(ValueError, match="not a valid model directory name"):
        models_config(['a"b'])


def test_write_models_config_lists_only_models_with_versions(tmp_path):
    (tmp_path / "lenet" / "1").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    (tmp_path / "half" / ".tmp-1-123").mkdir(parents=True)
    path = write_models_config(tmp_path)
    assert path.read_text() == models_config(["lenet"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "batching_parameters.txt",
        "empty",
        "half",
        "lenet",
        "models.config",
    ]
    assert (tmp_path / "batching_parameters.txt").read_text() == batching_parameters()


def test_batching_parameters_text_protobuf():
    assert batching_parameters() == (
        "max_batch_size { value: 64 }\n"
        "batch_timeout_micros { value: 1000 }\n"
        "max_enqueued_batches { value: 100 }\n"
        "num_batch_threads { value: 4 }\n"
    )
    custom = BatchingParameters(max_batch_size=8, batch_timeout_micros=0, num_batch_threads=2)
    assert "max_batch_size { value: 8 }" in batching_parameters(custom)
    assert "batch_timeout_micros { value: 0 }" in batching_parameters(custom)
    with pytest.raises(ValueError, match=r"max_batch_size must be an integer ≥ 1, got 0"):
        BatchingParameters(max_batch_size=0)
    with pytest.raises(ValueError, match="num_batch_threads must be an integer"):
        BatchingParameters(num_batch_threads=2.5)
