"""Named collections on disk (bot/collections.py) and the settings that pick one."""

from __future__ import annotations

import json

import pytest

from bot.collections import FOLDER, REGISTRY, Registry, default_name
from bot.config import Settings
from bot.errors import UserError


def test_the_default_collection_is_the_index_directory_itself(tmp_path):
    settings = Settings(index_dir=tmp_path / "embeddings", documents_dir=tmp_path / "documents")
    assert settings.collection_name == "alliance"
    assert settings.index.index_dir == tmp_path / "embeddings"  # taken over: nothing moves
    assert settings.index.documents_dir == tmp_path / "documents"
    named = settings.for_collection("alliance")
    assert named.index == settings.index


def test_another_collection_has_its_own_index_and_documents_folders(tmp_path):
    settings = Settings(index_dir=tmp_path / "embeddings", documents_dir=tmp_path / "documents")
    other = settings.for_collection("interne")
    assert other.index.index_dir == tmp_path / "embeddings" / FOLDER / "interne"
    assert other.index.documents_dir == tmp_path / "data" / FOLDER / "interne" / "documents"
    assert other.paths.data_dir == settings.paths.data_dir  # one log, one data folder


def test_the_corpus_name_names_the_default_collection(tmp_path):
    assert default_name(None) == "alliance"
    assert default_name("partenaires") == "partenaires"
    assert default_name("Not a name/..") == "alliance"
    settings = Settings(index_dir=tmp_path, corpus_name="partenaires")
    assert settings.for_collection("partenaires").index.index_dir == tmp_path


@pytest.mark.parametrize("name", ["..", "../etc", "A", "a/b", "", "x" * 41, "-lead", "é"])
def test_a_name_that_is_not_a_plain_folder_name_is_refused(tmp_path, name):
    with pytest.raises(UserError) as caught:
        Settings(index_dir=tmp_path).for_collection(name)
    assert caught.value.code == "invalid_collection"
    with pytest.raises(UserError):
        Registry(tmp_path, "alliance").create(name)
    assert not (tmp_path / FOLDER).exists()


def test_a_new_collection_is_private_the_default_one_public(tmp_path):
    registry = Registry(tmp_path, "alliance")
    assert registry.names() == ["alliance"]
    assert registry.entry("alliance").visibility == "public"
    registry.create("interne")
    assert (tmp_path / FOLDER / "interne").is_dir()
    assert registry.names() == ["alliance", "interne"]
    assert registry.entry("interne").visibility == "private"
    registry.set_visibility("interne", "public")
    assert Registry(tmp_path, "alliance").entry("interne").visibility == "public"  # on disk
    registry.set_visibility("alliance", "private")
    assert registry.entry("alliance").visibility == "private"
    assert json.loads((tmp_path / REGISTRY).read_text())["collections"]["interne"] == {"visibility": "public"}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # the temp file renamed


def test_a_folder_without_a_registry_entry_and_a_typo_stay_private(tmp_path):
    (tmp_path / FOLDER / "copie").mkdir(parents=True)
    (tmp_path / REGISTRY).write_text(json.dumps({"collections": {"typo": {"visibility": "publik"}}}))
    registry = Registry(tmp_path, "alliance")
    assert registry.names() == ["alliance", "copie", "typo"]
    assert registry.entry("copie").visibility == "private"
    assert registry.entry("typo").visibility == "private"


def test_visibility_of_an_unknown_collection_is_refused(tmp_path):
    with pytest.raises(UserError) as caught:
        Registry(tmp_path, "alliance").set_visibility("nulle-part", "public")
    assert caught.value.status == 404
    assert not (tmp_path / REGISTRY).exists()


def test_two_collections_are_ingested_at_once_one_collection_once(tmp_path):
    """Each collection holds its own ingest lock: one running ingest does not hold another
    collection's, but does hold its own."""
    from bot.index.store import IngestBusy, IngestLock

    settings = Settings(index_dir=tmp_path / "embeddings")
    default, other = settings.index.index_dir, settings.for_collection("interne").index.index_dir
    with IngestLock(default, wait=0):
        with IngestLock(other, wait=0):
            with pytest.raises(IngestBusy):
                IngestLock(default, wait=0).__enter__()
            with pytest.raises(IngestBusy):
                IngestLock(other, wait=0).__enter__()
