"""The submission's system description, the inference source and the checker's version."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cm_snakemake.mlperf.checker import CheckerError, checker_version
from cm_snakemake.mlperf.inference_source import InferenceSourceError, resolve_source
from cm_snakemake.mlperf.system import (
    MEANINGFUL_FIELDS,
    REQUIRED_FIELDS,
    SystemMetaError,
    load_system_meta,
    preflight,
    system_description,
)

from ..conftest import checker_source, no_checker_reason

SOURCE = checker_source()
needs_source = pytest.mark.skipif(SOURCE is None, reason=no_checker_reason())
FACTS = {"CM_HOST_CPU_MODEL_NAME": "Some CPU", "CM_HOST_CPU_SOCKETS": "1",
         "CM_HOST_CPU_TOTAL_PHYSICAL_CORES": "2", "CM_HOST_MEMORY_CAPACITY": "8G",
         "CM_HOST_DISK_CAPACITY": "100G", "CM_HOST_OS_FLAVOR": "debian",
         "CM_HOST_OS_VERSION": "12", "CM_HOST_CPU_L2_CACHE_SIZE": "1 MiB"}  # fmt: skip
STATED = {"status": "available", "system_type": "edge", "host_storage_type": "SSD",
          "host_memory_configuration": "1x8GB", "host_networking": "Ethernet",
          "host_networking_topology": "N/A", "host_network_card_count": "1",
          "cooling": "air"}  # fmt: skip
SOFTWARE = {"framework": "onnxruntime 1.32.0", "other_software_stack": "Python 3.11"}


def describe(meta: dict[str, str], path: str = "meta.yaml") -> dict[str, str]:
    return system_description(FACTS, meta, division="open", submitter="me", system_name="box",
                              software=SOFTWARE, meta_path=path)  # fmt: skip


def test_every_required_field_is_written_from_facts_and_the_stated_values() -> None:
    description = describe(STATED)
    assert set(description) == set(REQUIRED_FIELDS)
    assert all(description[k] for k in MEANINGFUL_FIELDS)
    assert description["host_processor_model_name"] == "Some CPU"
    assert description["host_processor_caches"] == "L2: 1 MiB"
    assert description["operating_system"].startswith("debian 12")
    assert description["accelerators_per_node"] == "0"


def test_a_missing_meaningful_field_names_it_and_the_file_to_edit() -> None:
    with pytest.raises(SystemMetaError) as caught:
        describe({**STATED, "cooling": ""}, "/x/system_meta.yaml")
    assert "cooling" in str(caught.value) and "/x/system_meta.yaml" in caught.value.hint


def test_status_and_system_type_are_checked() -> None:
    with pytest.raises(SystemMetaError, match="status 'sold'"):
        describe({**STATED, "status": "sold"})
    with pytest.raises(SystemMetaError, match="system_type 'laptop'"):
        describe({**STATED, "system_type": "laptop"})


def test_preflight_counts_the_fields_the_host_facts_fill() -> None:
    preflight(STATED, "m.yaml", division="open", submitter="me", system_name="box")
    with pytest.raises(SystemMetaError, match="host_storage_type"):
        preflight({**STATED, "host_storage_type": ""}, "m.yaml", division="open",
                  submitter="me", system_name="box")  # fmt: skip


def test_the_system_meta_file_must_be_a_mapping_of_known_fields(tmp_path: Path) -> None:
    good = tmp_path / "meta.yaml"
    good.write_text("cooling: air\nhost_network_card_count: 1\n")
    assert load_system_meta(str(good)) == {"cooling": "air", "host_network_card_count": "1"}
    typo = tmp_path / "typo.yaml"
    typo.write_text("colling: air\n")
    with pytest.raises(SystemMetaError, match="unknown fields colling"):
        load_system_meta(str(typo))
    broken = tmp_path / "broken.yaml"
    broken.write_text("cooling: [air\n")
    with pytest.raises(SystemMetaError, match="is not valid YAML"):
        load_system_meta(str(broken))
    with pytest.raises(SystemMetaError, match="cannot read"):
        load_system_meta(str(tmp_path / "absent.yaml"))


def test_a_folder_without_the_checker_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InferenceSourceError, match="holds no MLPerf submission checker"):
        resolve_source(str(tmp_path), str(tmp_path / "home"))


@needs_source
def test_a_git_url_is_cloned_once_and_a_bad_one_says_what_to_do(tmp_path: Path) -> None:
    assert SOURCE is not None
    repo = tmp_path / "inference"
    shutil.copytree(SOURCE / "tools", repo / "tools")

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "subset")
    home = tmp_path / "home"
    first = resolve_source(repo.as_uri(), str(home))
    assert Path(first, "tools", "submission", "submission_checker", "main.py").is_file()
    assert Path(first).is_relative_to(home / "sources" / "mlperf-inference")
    shutil.rmtree(repo)  # the clone is reused: the origin is no longer needed
    assert resolve_source(repo.as_uri(), str(home)) == first
    with pytest.raises(InferenceSourceError, match=r"git fetch of .* failed") as caught:
        resolve_source((tmp_path / "nowhere").as_uri(), str(home))
    assert "local checkout" in caught.value.hint
    leftovers = [p for p in (home / "sources" / "mlperf-inference").iterdir() if p.name[0] == "."]
    assert leftovers == []  # a failed clone leaves nothing behind


def detail_log(path: Path, seeds: dict[str, int]) -> Path:
    lines = [
        ":::MLLOG " + json.dumps({"key": f"effective_{k}", "value": v}) for k, v in seeds.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@needs_source
def test_the_checker_version_is_the_one_whose_seeds_loadgen_logged(tmp_path: Path) -> None:
    assert SOURCE is not None
    seeds = {
        "qsl_rng_seed": 2085463073848966840,
        "sample_index_rng_seed": 2747215439041700203,
        "schedule_rng_seed": 16159082839903944936,
    }  # fmt: skip  (LoadGen 6.0.17's)
    assert checker_version(str(SOURCE), str(detail_log(tmp_path / "a.txt", seeds))) == "v6.1"
    with pytest.raises(CheckerError, match="no version of the checker"):
        checker_version(
            str(SOURCE), str(detail_log(tmp_path / "b.txt", {**seeds, "qsl_rng_seed": 1}))
        )
