"""Rule files: loaded, validated, errors naming file, line and key; --rules overrides."""
from __future__ import annotations

import pytest

from analyzer.models import ModelError, load_models, parse_models
from tests.conftest import run_cli


def test_builtin_models_load_and_cover_every_section():
    m = load_models()
    for section in ("transparent", "iterator", "lockless_read", "derive", "acquire",
                    "release", "lock", "unlock", "reread"):
        assert m.names(section), section
    assert m.get("acquire", "folio_try_get").get("when") == "nonzero"
    assert m.get("acquire", "get_page").get("when") == "always"      # default filled
    assert m.iterators()["xas_for_each"].step == "xas_find"


@pytest.mark.parametrize("text, needle", [
    ("[acquire.foo]\narg = 0\nkind = 'plain'\nwhen = 'sometimes'\n", "t.toml:4: 'acquire.foo.when': must be one of"),
    ("[acquire.foo]\narg = 0\nkind = 'plain'\nbogus = 1\n", "t.toml:4: 'acquire.foo': unknown key 'bogus'"),
    ("[acquire.foo]\nkind = 'plain'\n", "t.toml:1: 'acquire.foo': missing required key 'arg'"),
    ("[acquire.foo]\narg = 'x'\nkind = 'plain'\n", "'acquire.foo.arg': expected int, got str"),
    ("[acquire.foo]\narg = true\nkind = 'plain'\n", "got a boolean"),
    ("\n\n[frobnicate.foo]\nx = 1\n", "t.toml:3: unknown section 'frobnicate'"),
    ("[acquire.foo\n", "t.toml: invalid TOML"),
    ("[derive.'not an identifier']\nfrom = 0\n", "not a C identifier"),
    ("[iterator.it]\nstep_args = [-1]\n", "must be a list of argument indexes"),
])
def test_bad_rule_files_name_file_line_and_key(text, needle):
    with pytest.raises(ModelError) as exc:
        parse_models(text, "t.toml")
    assert needle in str(exc.value)


def test_extra_rule_file_overrides_and_extends(tmp_path):
    extra = tmp_path / "mine.toml"
    extra.write_text("[acquire.my_get]\narg = 0\nkind = 'plain'\nneeds_ref = true\n"
                     "[acquire.get_page]\narg = 0\nkind = 'plain'\n")
    m = load_models([extra])
    assert m.get("acquire", "my_get").get("needs_ref") is True
    assert m.get("acquire", "get_page").get("needs_ref") is None        # overridden
    assert str(extra) in m.files


def test_cli_rejects_a_bad_rule_file_with_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[acquire.x]\narg = 0\nkind = 'sideways'\n")
    r = run_cli("--rules", str(bad), "fixtures/")
    assert r.returncode == 2
    assert f"{bad}:3: 'acquire.x.kind': must be one of" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_extra_model_finds_a_new_api(tmp_path):
    src = tmp_path / "a.c"
    src.write_text("void bad(pte_t *ptep)\n{\n\tstruct page *p = pte_page(ptep_get_lockless(ptep));\n"
                   "\tmy_get(p);\n}\n")
    assert run_cli(str(src)).returncode == 0
    extra = tmp_path / "mine.toml"
    extra.write_text("[acquire.my_get]\narg = 0\nkind = 'plain'\nneeds_ref = true\n")
    r = run_cli("--rules", str(extra), str(src))
    assert r.returncode == 1
    assert "a.c:4:9: warning: my_get() on 'p' that holds no reference" in r.stdout


def test_sections_are_typed_and_owned():
    from analyzer.models import schema
    from analyzer.models.core import Acquire
    from checkers.hotplug import Teardown

    m = load_models()
    spec = m.get("acquire", "folio_try_get").spec
    assert isinstance(spec, Acquire) and spec.when == "nonzero" and spec.kind == "speculative"
    assert m.get("derive", "page_folio").spec.from_ == 0           # TOML key "from"
    assert isinstance(m.get("teardown", "pte_free").spec, Teardown)
    assert Teardown.OWNER == "hotplug" and Acquire.OWNER == "core"
    assert set(m.by_section) <= set(schema())                      # every section declared
    assert schema()["make_accessible"]["when"].choices[-2:] == ("positive", "negative")


def test_out_parameter_key_is_validated():
    with pytest.raises(ModelError, match=r"'acquire\.x\.out': expected int"):
        parse_models("[acquire.x]\narg = 0\nkind = 'plain'\nout = 'p'\n", "t.toml")


def test_rules_models_lists_every_section_with_its_keys():
    from analyzer.models import schema

    r = run_cli("rules", "--models")
    assert r.returncode == 0, r.stderr
    for section, keys in schema().items():
        assert f"[{section}]" in r.stdout
        for key in keys:
            assert f"    {key} " in r.stdout
    assert "[teardown]  (hotplug; on_teardown)" in r.stdout
    md = run_cli("rules", "--models", "--markdown").stdout
    assert md.startswith("| section | owner | event | keys | what |")
