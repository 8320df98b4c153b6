"""The package layout a newcomer can read: few top-level modules, fakes only under testing/."""

from pathlib import Path

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"


def test_runtime_has_at_most_a_dozen_top_level_modules():
    modules = sorted(p.name for p in RUNTIME.glob("*.py"))
    assert len(modules) <= 12, modules


def test_every_sub_package_says_what_it_is_for():
    for package in sorted(p for p in RUNTIME.iterdir() if (p / "__init__.py").exists()):
        source = (package / "__init__.py").read_text(encoding="utf-8")
        assert source.lstrip().startswith('"""'), f"{package.name}/__init__.py has no docstring"


def test_no_fake_lives_among_the_adapters():
    adapters = sorted(p.name for p in (RUNTIME / "adapters").glob("*.py"))
    assert not [name for name in adapters if "fake" in name], adapters
    for path in (RUNTIME / "adapters").glob("*.py"):
        assert "class Fake" not in path.read_text(encoding="utf-8"), path.name


def test_the_checkout_root_is_the_folder_holding_runtime():
    """Modules moved into sub-packages must not derive the root from their own depth."""
    from runtime.devinfra.services import default_repo_root
    from runtime.paths import checkout_root

    assert (checkout_root() / "runtime" / "__init__.py").is_file()
    assert default_repo_root() == checkout_root()
