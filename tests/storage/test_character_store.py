"""The character library's rules where the database enforces them, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.characters import Character, CharacterError, check_name
from bot.storage.character_store import CharacterStore
from bot.storage.database import connect
from bot.storage.job_store import JobStore


async def save(characters: CharacterStore, name: str) -> Character:
    return await characters.save(
        owner_id=7,
        guild_id=1,
        name=name,
        description="",
        shared=False,
        image_format="png",
        width=1,
        height=1,
        data=b"png",
        now=1.0,
    )


async def test_two_saves_of_one_name_at_once_keep_one(database_url: str) -> None:
    store = JobStore(await connect(database_url))
    await store.migrate()
    characters = CharacterStore(store.database, max_per_user=5)
    try:
        outcomes = await asyncio.gather(
            save(characters, "Aria"), save(characters, "ARIA"), return_exceptions=True
        )
        refused = [o for o in outcomes if isinstance(o, CharacterError)]
        assert len(refused) == 1, outcomes
        assert "already have a character" in str(refused[0])
        assert [c.name for c in await characters.usable(7, 1)] in (["Aria"], ["ARIA"])
    finally:
        await store.close()


async def test_the_limit_holds_when_saves_come_at_once(database_url: str) -> None:
    store = JobStore(await connect(database_url))
    await store.migrate()
    characters = CharacterStore(store.database, max_per_user=3)
    try:
        outcomes = await asyncio.gather(
            *(save(characters, f"Hero {n}") for n in range(10)), return_exceptions=True
        )
        kept = [o for o in outcomes if isinstance(o, Character)]
        refused = [o for o in outcomes if isinstance(o, CharacterError)]
        assert (len(kept), len(refused)) == (3, 7), outcomes
        assert all("the most one person may keep" in str(error) for error in refused)
        assert len(await characters.usable(7, 1)) == 3
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("raw", "accepted"),
    [
        ("Aria", "Aria"),
        ("  Sir   Lancelot ", "Sir Lancelot"),
        ("Zoë-2", "Zoë-2"),
        ("名前", "名前"),
        ("🐉🐉", None),
        ("", None),
        ("x" * 33, None),
        ("-dash", None),
    ],
)
def test_names(raw: str, accepted: str | None) -> None:
    if accepted is None:
        with pytest.raises(CharacterError):
            check_name(raw)
    else:
        assert check_name(raw) == accepted
