import pytest

from keraslab.export import models_config, write_models_config


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "half", "lenet", "models.config"]
