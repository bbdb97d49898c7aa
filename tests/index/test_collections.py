"""Deleting and renaming a collection (bot/index/collections.py): under its ingest lock, one
rename on disk, the keys file following, and a running server's library never serving what
was deleted, nor a renamed collection under its old name."""

from __future__ import annotations

import json

import pytest

from bot.answer.library import Library
from bot.collections import FOLDER, Registry
from bot.config import Settings
from bot.errors import UserError
from bot.index import store
from bot.index.collections import delete_collection, rename_collection
from bot.index.store import IngestBusy, IngestLock
from bot.ingest.pipeline import ingest
from bot.keys import add_key

FIRST = "# Le phare\n\nLe phare de Kerbrat-Lumen est allumé chaque soir à 19 h par la gardienne Soazig.\n"
SECOND = "# La serre\n\nLa serre de Kerbrat-Lumen abrite quatre-vingts orchidées depuis 2022.\n"


@pytest.fixture
def site(tmp_path, embedder):
    """An index root with a private collection `interne` holding one document, an upload in
    its data folder and a keys file whose keys name it (and other collections)."""
    settings = Settings(
        index_dir=tmp_path / "index", documents_dir=tmp_path / "documents", data_dir=tmp_path / "data"
    )
    registry = Registry(settings.index_dir, settings.default_collection)
    registry.create("interne")
    registry.create("autre")
    fill(settings, "interne", FIRST, embedder)
    uploads = settings.data_path / FOLDER / "interne" / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "note.md").write_text("# Note\n\nUne note.\n", encoding="utf-8")
    keys = tmp_path / "keys.json"
    add_key(keys, "staff", ["interne", "autre"], ["interne"])
    add_key(keys, "vitrine", ["alliance"], [])
    return settings, registry, keys


def fill(settings: Settings, name: str, text: str, embedder) -> None:
    folder = settings.data_path / "sources" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "doc.md").write_text(text, encoding="utf-8")
    ingest([folder], settings.for_collection(name).index, lambda: embedder, progress=False)


def named_by(keys) -> dict[str, tuple[list[str], list[str]]]:
    data = json.loads(keys.read_text(encoding="utf-8"))["keys"]
    return {k: (e["read"], e["admin"]) for k, e in data.items()}


def test_a_deleted_collection_is_gone_with_its_data_and_its_name_in_the_keys(site):
    settings, registry, keys = site
    folder = registry.index_dir("interne")
    done = delete_collection(registry, "interne", settings.data_path, keys)
    assert done.keys == ["staff"]
    assert named_by(keys) == {"staff": (["autre"], []), "vitrine": (["alliance"], [])}
    assert registry.names() == ["alliance", "autre"] and not registry.exists("interne")
    assert not folder.exists() and not (settings.data_path / FOLDER / "interne").exists()
    assert sorted(p.name for p in folder.parent.iterdir()) == ["autre"]  # nothing left behind
    assert "interne" not in json.loads(registry.path.read_text())["collections"]
    with pytest.raises(UserError) as unknown:
        delete_collection(registry, "interne", settings.data_path, keys)
    assert unknown.value.status == 404


def test_the_default_collection_is_never_deleted_nor_renamed(site):
    settings, registry, keys = site
    for attempt in (
        lambda: delete_collection(registry, "alliance", settings.data_path, keys),
        lambda: rename_collection(registry, "alliance", "vitrine", settings.data_path, keys),
        lambda: rename_collection(registry, "interne", "alliance", settings.data_path, keys),
    ):
        with pytest.raises(UserError) as refused:
            attempt()
        assert refused.value.code == "default_collection"
    assert registry.names() == ["alliance", "autre", "interne"]


def test_nothing_changes_while_an_ingest_holds_the_collection(site):
    settings, registry, keys = site
    folder = registry.index_dir("interne")
    before = (store.current_generation(folder), keys.read_bytes(), registry.path.read_bytes())
    with IngestLock(folder, wait=0):  # an ingest of `interne` is running
        with pytest.raises(IngestBusy):
            delete_collection(registry, "interne", settings.data_path, keys)
        with pytest.raises(IngestBusy):
            rename_collection(registry, "interne", "equipe", settings.data_path, keys)
        with IngestLock(registry.index_dir("autre"), wait=0):
            pass  # another collection's lock is free
    assert (store.current_generation(folder), keys.read_bytes(), registry.path.read_bytes()) == before
    assert registry.names() == ["alliance", "autre", "interne"]
    assert (settings.data_path / FOLDER / "interne" / "uploads" / "note.md").is_file()


def test_a_renamed_collection_keeps_its_index_visibility_uploads_and_keys(site):
    settings, registry, keys = site
    registry.set_visibility("interne", "public")
    generation = store.current_generation(registry.index_dir("interne"))
    done = rename_collection(registry, "interne", "equipe", settings.data_path, keys)
    assert done.keys == ["staff"]
    assert named_by(keys)["staff"] == (["autre", "equipe"], ["equipe"])
    assert registry.names() == ["alliance", "autre", "equipe"]
    assert registry.entry("equipe").visibility == "public"
    moved = store.current_generation(registry.index_dir("equipe"))
    assert moved is not None and moved.name == generation.name  # the same generation: nothing re-embedded
    assert (settings.data_path / FOLDER / "equipe" / "uploads" / "note.md").is_file()
    assert not (settings.data_path / FOLDER / "interne").exists()
    for new in ("autre", "equipe", "../dehors"):
        with pytest.raises(UserError) as refused:
            rename_collection(registry, "equipe", new, settings.data_path, keys)
        assert refused.value.status in (409, 422)
    assert registry.names() == ["alliance", "autre", "equipe"]


def test_a_running_library_serves_neither_a_deleted_nor_an_old_name(site, assistant, embedder):
    """The server's library had `interne` loaded: once deleted it is 404, and a new `interne`
    is read from its own index, never from what was loaded before; a rename is read under
    the new name only."""
    settings, registry, keys = site
    library = Library(assistant, registry)
    question = "À quelle heure le phare est-il allumé ?"
    assert "Soazig" in library.assistant("interne").search(question).passages[0].text
    delete_collection(registry, "interne", settings.data_path, keys)
    with pytest.raises(UserError) as gone:
        library.assistant("interne")
    assert gone.value.code == "unknown_collection"
    registry.create("interne")
    fill(settings, "interne", SECOND, embedder)
    found = library.assistant("interne").search(question).passages
    assert found and all("Soazig" not in p.text for p in found)
    rename_collection(registry, "interne", "equipe", settings.data_path, keys)
    with pytest.raises(UserError):
        library.assistant("interne")
    assert "orchidées" in library.assistant("equipe").search("Combien d'orchidées ?").passages[0].text
    assert library.assistant("equipe").config.collection == "equipe"
    assert set(library.loaded()) == {"alliance", "equipe"}  # nothing kept under the old name


def test_a_deleted_collection_is_not_kept_in_memory(site, assistant):
    """Asked for after its delete (a 404 at the edge), what was loaded for it is given back."""
    from bot.api.access import Caller, resolve

    settings, registry, keys = site
    library = Library(assistant, registry)
    operator = Caller(operator=True)
    assert resolve(library, operator, "interne").snapshot.info().documents == 1
    delete_collection(registry, "interne", settings.data_path, keys)
    with pytest.raises(UserError):
        resolve(library, operator, "interne")
    assert set(library.loaded()) == {"alliance"}
