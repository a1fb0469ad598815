"""Security properties checked in the source: no remote code, safetensors only, no widened paths."""
import ast

from tests.conftest import ROOT

SOURCES = [p for d in ("comparisons", "finetune", "fewshot", "rag", "bench", "ui") for p in (ROOT / d).rglob("*.py")]
SOURCES.append(ROOT / "app.py")


def _calls(name):
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name:
                yield path, node


def test_every_from_pretrained_refuses_remote_code():
    found = 0
    for path, call in _calls("from_pretrained"):
        receiver = ast.unparse(call.func.value)
        if receiver == "PeftModel":  # loads adapter weights into our own model; runs no model code
            continue
        found += 1
        kw = {k.arg: k.value for k in call.keywords}
        if "trust_remote_code" in kw:
            assert isinstance(kw["trust_remote_code"], ast.Constant) and kw["trust_remote_code"].value is False, \
                f"{path.name}:{call.lineno}"
        else:  # bench scripts load only folders they wrote themselves; the app's code must say it
            assert path.parent.name == "bench", f"{path.name}:{call.lineno} lacks trust_remote_code=False"
    assert found >= 6


def test_weights_are_safetensors_only():
    for path, call in _calls("save_pretrained"):
        kw = {k.arg: k.value for k in call.keywords}
        if "safe_serialization" in kw:
            assert kw["safe_serialization"].value is True
    text = "\n".join(p.read_text() for p in SOURCES)
    assert "torch.load(" not in text and "import pickle" not in text


def test_app_does_not_widen_allowed_paths_and_caps_uploads():
    source = (ROOT / "app.py").read_text()
    assert all("allowed_paths" not in p.read_text() for p in (ROOT / "ui").glob("*.py"))
    assert "allowed_paths" not in source
    assert "launch(demo)" in source and "max_file_size" in (ROOT / "ui" / "__init__.py").read_text()


def test_messages_never_show_the_servers_folders(tmp_path):
    """A visitor deleting an unknown run, or uploading a zip without train/test files, sees no server path."""
    import zipfile

    import pytest

    from comparisons.ground.data import load_data
    from comparisons.ground.errors import UserError
    from comparisons.ground.runs import RunStore

    with pytest.raises(UserError) as e:
        RunStore(tmp_path / "runs").delete("someone-elses-run")
    assert str(e.value) == "no run 'someone-elses-run'." and str(tmp_path) not in str(e.value)
    archive = tmp_path / "odd.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("data/readme.md", "nothing here")
        z.writestr("data/notes.txt", "nor here")
    with pytest.raises(UserError) as e:
        load_data(str(archive))
    assert "needs a train file and a test file" in str(e.value) and "tpr-unzipped" not in str(e.value)
