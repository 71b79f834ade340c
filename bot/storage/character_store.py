"""The character library: saved reference images (and a description of the look) to pose again.

Names are per owner, 1–32 characters, unique without regard to case or compatibility forms
("Ａria" is "Aria"). A shared character can be
used by everyone in its server. The image is the cleaned, normalised copy, never a Discord CDN
link (those expire), kept once in the images table however many characters and jobs use it.
"""

from __future__ import annotations

import sqlite3

import asyncpg

from bot.domain.characters import (
    Character,
    CharacterError,
    check_name,
    clean_description,
    name_key,
)
from bot.domain.translatable import mark
from bot.storage import image_store
from bot.storage.database import Database, Executor, Row

ALREADY_YOURS = mark("You already have a character called “{name}”.")
TAKEN = mark("There is already a character called “{name}”.")

_SUMMARY = "id, owner_id, guild_id, name, description, shared, created_at"
_FULL = (
    "c.id, c.owner_id, c.guild_id, c.name, c.description, c.shared, c.created_at,"
    " i.format, i.width, i.height, i.data"
)
_OWN_NAMES = "SELECT id, name FROM characters WHERE owner_id = $1"


def _character(row: Row) -> Character:
    data = row.get("data")
    return Character(
        id=row["id"],
        owner_id=row["owner_id"],
        guild_id=row["guild_id"],
        name=row["name"],
        description=row["description"],
        shared=row["shared"],
        created_at=row["created_at"],
        format=row.get("format", ""),
        width=row.get("width", 0),
        height=row.get("height", 0),
        data=bytes(data) if data is not None else b"",
    )


class CharacterStore:
    def __init__(self, database: Database, *, max_per_user: int) -> None:
        self.database = database
        self.max_per_user = max_per_user

    async def save(
        self,
        *,
        owner_id: int,
        guild_id: int | None,
        name: str,
        description: str,
        shared: bool,
        image_format: str,
        width: int,
        height: int,
        data: bytes,
        now: float,
    ) -> Character:
        name = check_name(name)
        description = clean_description(description)
        sha256 = await image_store.digest_off_loop(data)
        try:
            async with self.database.transaction() as tx:
                await self._one_at_a_time(tx, owner_id)
                self._check_room(await tx.fetch(_OWN_NAMES, owner_id), name)
                # An image kept already (a result saved as a character, the same upload
                # again) is referred to, not stored again.
                await image_store.put(
                    tx,
                    sha256,
                    image_format=image_format,
                    width=width,
                    height=height,
                    data=data,
                    now=now,
                )
                [row] = await tx.fetch(
                    "INSERT INTO characters (owner_id, guild_id, name, name_key, description,"
                    " shared, image_sha256, created_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    owner_id,
                    guild_id,
                    name,
                    name_key(name),
                    description,
                    shared,
                    sha256,
                    now,
                )
        except (asyncpg.UniqueViolationError, sqlite3.IntegrityError):
            # Two saves of one name at the same moment: the database's own rule decides.
            raise CharacterError(ALREADY_YOURS, name=name) from None
        character = await self.get(int(row["id"]))
        assert character is not None
        return character

    async def check_room(self, owner_id: int, name: str) -> None:
        """Refuse, as `save` would, a name the owner has already or one past their limit:
        a cheap check to make before downloading an image."""
        self._check_room(await self.database.fetch(_OWN_NAMES, owner_id), check_name(name))

    def _check_room(self, own: list[Row], name: str) -> None:
        for row in own:
            # The key is made again from the name: keys stored by earlier versions were NFC
            # alone, and would let "Ａria" in beside "Aria".
            if name_key(row["name"]) == name_key(name):
                raise CharacterError(ALREADY_YOURS, name=row["name"])
        if len(own) >= self.max_per_user:
            raise CharacterError(
                mark(
                    "You have {count} characters, the most one person may keep. "
                    "Delete one with /character delete first."
                ),
                count=len(own),
            )

    async def get(self, character_id: int) -> Character | None:
        rows = await self.database.fetch(
            f"SELECT {_FULL} FROM characters c JOIN images i ON i.sha256 = c.image_sha256"  # noqa: S608 - column list
            " WHERE c.id = $1",
            character_id,
        )
        return _character(rows[0]) if rows else None

    async def usable(self, user_id: int, guild_id: int | None) -> list[Character]:
        """What the user may pose, without images: their own first, then the server's shared."""
        rows = await self.database.fetch(
            f"SELECT {_SUMMARY} FROM characters"  # noqa: S608 - column list
            " WHERE owner_id = $1 OR (shared = $2 AND guild_id = $3)"
            " ORDER BY CASE WHEN owner_id = $1 THEN 0 ELSE 1 END, name_key, id",
            user_id,
            True,
            guild_id,
        )
        return [_character(row) for row in rows]

    async def find(self, user_id: int, guild_id: int | None, name: str) -> Character | None:
        """The character `name` means for this user: their own, else one shared here."""
        for character in await self.usable(user_id, guild_id):
            if name_key(character.name) == name_key(name):
                return await self.get(character.id)
        return None

    async def rename(self, character: Character, new_name: str) -> Character:
        new_name = check_name(new_name)
        try:
            async with self.database.transaction() as tx:
                await self._one_at_a_time(tx, character.owner_id)
                for row in await tx.fetch(_OWN_NAMES, character.owner_id):
                    if row["id"] != character.id and name_key(row["name"]) == name_key(new_name):
                        raise CharacterError(TAKEN, name=row["name"])
                await tx.execute(
                    "UPDATE characters SET name = $1, name_key = $2 WHERE id = $3",
                    new_name,
                    name_key(new_name),
                    character.id,
                )
        except (asyncpg.UniqueViolationError, sqlite3.IntegrityError):
            raise CharacterError(TAKEN, name=new_name) from None
        renamed = await self.get(character.id)
        assert renamed is not None
        return renamed

    async def _one_at_a_time(self, tx: Executor, owner_id: int) -> None:
        """Hold the owner's other saves and renames until `tx` ends, so that the count and the
        names `tx` reads stay true until it writes: on PostgreSQL two saves at once would
        otherwise both see room for one more. SQLite's write transactions (BEGIN IMMEDIATE)
        are one at a time already."""
        if self.database.dialect == "postgres":
            await tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"characters:{owner_id}"
            )

    async def delete(self, character_id: int) -> bool:
        rows = await self.database.fetch(
            "DELETE FROM characters WHERE id = $1 RETURNING image_sha256", character_id
        )
        await image_store.delete_unused_quietly(self.database, [r["image_sha256"] for r in rows])
        return bool(rows)

    async def delete_user_data(self, user_id: int) -> int:
        """Forget a user's characters, and their images unless something else uses them."""
        rows = await self.database.fetch(
            "DELETE FROM characters WHERE owner_id = $1 RETURNING image_sha256", user_id
        )
        await image_store.delete_unused_quietly(self.database, [r["image_sha256"] for r in rows])
        return len(rows)
