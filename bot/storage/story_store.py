"""Stories in the database: their names, their panels in order, and the panels' images.

A panel refers to its result's image by hash (in the images table, kept once), as a saved
character does: the storage sweep never takes an image a panel stands on, and deleting the
panel or its story lets it go. Names are per owner, unique without regard to case.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable

import asyncpg

from bot.domain.characters import name_key
from bot.domain.images import CheckedImage
from bot.domain.stories import Panel, Story, StoryError, check_name, clean_caption
from bot.domain.translatable import mark
from bot.storage import image_store
from bot.storage.database import Database, Executor, Row
from bot.storage.job_store import CANCELLED, DELIVERED, FAILED, GENERATED, RESULT

ALREADY_YOURS = mark("You already have a story called “{name}”.")
NOT_KEPT = mark(
    "The bot no longer keeps this result's image, so it cannot become a panel. Ask for it "
    "again, then add the new result."
)

_STORY = (
    "s.id, s.owner_id, s.guild_id, s.name, s.shared, s.created_at,"
    " (SELECT COUNT(*) FROM story_panels p WHERE p.story_id = s.id) AS panels"
)
_PANEL = "id, story_id, position, job_id, image_sha256, caption, added_by"
_OWN_NAMES = "SELECT id, name FROM stories WHERE owner_id = $1"
# A /story add whose request never became a job (refused before it was stored) is let go of
# after this long: a stored request has its job within seconds.
PENDING_SECONDS = 3600.0


def _story(row: Row) -> Story:
    return Story(
        id=int(row["id"]),
        owner_id=int(row["owner_id"]),
        guild_id=row["guild_id"],
        name=row["name"],
        shared=bool(row["shared"]),
        created_at=float(row["created_at"]),
        panels=int(row["panels"]),
    )


def _panel(row: Row) -> Panel:
    return Panel(
        id=int(row["id"]),
        story_id=int(row["story_id"]),
        position=int(row["position"]),
        job_id=row["job_id"],
        image_sha256=row["image_sha256"],
        caption=row["caption"],
        added_by=int(row["added_by"]),
    )


class StoryStore:
    def __init__(self, database: Database, *, max_per_user: int, max_panels: int) -> None:
        self.database = database
        self.max_per_user = max_per_user
        self.max_panels = max_panels

    # Stories

    async def create(
        self, *, owner_id: int, guild_id: int | None, name: str, shared: bool, now: float
    ) -> Story:
        name = check_name(name)
        try:
            async with self.database.transaction() as tx:
                await self._one_at_a_time(tx, f"stories:{owner_id}")
                own = await tx.fetch(_OWN_NAMES, owner_id)
                for row in own:
                    if name_key(row["name"]) == name_key(name):
                        raise StoryError(ALREADY_YOURS, name=row["name"])
                if len(own) >= self.max_per_user:
                    raise StoryError(
                        mark(
                            "You have {count} stories, the most one person may keep. "
                            "Delete one with /story delete first."
                        ),
                        count=len(own),
                    )
                [row] = await tx.fetch(
                    "INSERT INTO stories (owner_id, guild_id, name, name_key, shared, created_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    owner_id,
                    guild_id,
                    name,
                    name_key(name),
                    shared,
                    now,
                )
        except (asyncpg.UniqueViolationError, sqlite3.IntegrityError):
            raise StoryError(ALREADY_YOURS, name=name) from None
        story = await self.get(int(row["id"]))
        assert story is not None
        return story

    async def get(self, story_id: int) -> Story | None:
        rows = await self.database.fetch(
            f"SELECT {_STORY} FROM stories s WHERE s.id = $1",  # noqa: S608 - column list
            story_id,
        )
        return _story(rows[0]) if rows else None

    async def usable(self, user_id: int, guild_id: int | None) -> list[Story]:
        """The stories this user may add to: their own first, then those shared here."""
        rows = await self.database.fetch(
            f"SELECT {_STORY} FROM stories s"  # noqa: S608 - column list
            " WHERE s.owner_id = $1 OR (s.shared = $2 AND s.guild_id = $3)"
            " ORDER BY CASE WHEN s.owner_id = $1 THEN 0 ELSE 1 END, s.name_key, s.id",
            user_id,
            True,
            guild_id,
        )
        return [_story(row) for row in rows]

    async def find(self, user_id: int, guild_id: int | None, name: str) -> Story | None:
        """The story `name` means for this user: their own, else one shared here."""
        for story in await self.usable(user_id, guild_id):
            if name_key(story.name) == name_key(name):
                return story
        return None

    async def current(self, user_id: int, guild_id: int | None) -> Story | None:
        """The story this user last used here: the one they last added a panel to, or made,
        whichever came later; None if they have used none."""
        usable = {story.id: story for story in await self.usable(user_id, guild_id)}
        if not usable:
            return None
        latest: dict[int, float] = {
            story.id: story.created_at for story in usable.values() if story.owner_id == user_id
        }
        for row in await self.database.fetch(
            "SELECT story_id, MAX(added_at) AS at FROM story_panels WHERE added_by = $1"
            " GROUP BY story_id",
            user_id,
        ):
            if row["story_id"] in usable:
                latest[row["story_id"]] = max(latest.get(row["story_id"], 0.0), float(row["at"]))
        if not latest:
            return None
        return usable[max(latest, key=lambda story_id: (latest[story_id], story_id))]

    async def rename(self, story: Story, new_name: str) -> Story:
        new_name = check_name(new_name)
        taken = mark("There is already a story called “{name}”.")
        try:
            async with self.database.transaction() as tx:
                await self._one_at_a_time(tx, f"stories:{story.owner_id}")
                for row in await tx.fetch(_OWN_NAMES, story.owner_id):
                    if row["id"] != story.id and name_key(row["name"]) == name_key(new_name):
                        raise StoryError(taken, name=row["name"])
                await tx.execute(
                    "UPDATE stories SET name = $1, name_key = $2 WHERE id = $3",
                    new_name,
                    name_key(new_name),
                    story.id,
                )
        except (asyncpg.UniqueViolationError, sqlite3.IntegrityError):
            raise StoryError(taken, name=new_name) from None
        renamed = await self.get(story.id)
        assert renamed is not None
        return renamed

    async def delete(self, story_id: int) -> bool:
        """Delete a story and its panels, and the panels' images unless something else uses
        them."""

        async def work(tx: Executor) -> tuple[bool, list[str]]:
            panels = await tx.fetch(
                "DELETE FROM story_panels WHERE story_id = $1 RETURNING image_sha256", story_id
            )
            gone = await tx.fetch("DELETE FROM stories WHERE id = $1 RETURNING id", story_id)
            return bool(gone), [row["image_sha256"] for row in panels]

        deleted, let_go = await self.database.run(work)
        await image_store.delete_unused_quietly(self.database, let_go)
        return deleted

    async def delete_user_data(self, user_id: int) -> int:
        """Forget a user's stories, and the panels they added to others' shared ones."""

        async def work(tx: Executor) -> tuple[int, list[str]]:
            await tx.execute("DELETE FROM story_pending WHERE added_by = $1", user_id)
            panels = await tx.fetch(
                "DELETE FROM story_panels WHERE added_by = $1 OR story_id IN"
                " (SELECT id FROM stories WHERE owner_id = $1) RETURNING story_id, image_sha256",
                user_id,
            )
            stories = await tx.fetch(
                "DELETE FROM stories WHERE owner_id = $1 RETURNING id", user_id
            )
            await _renumber(tx, {int(row["story_id"]) for row in panels})
            return len(stories), [row["image_sha256"] for row in panels]

        count, let_go = await self.database.run(work)
        await image_store.delete_unused_quietly(self.database, let_go)
        return count

    # Panels

    async def panels(self, story_id: int) -> list[Panel]:
        rows = await self.database.fetch(
            f"SELECT {_PANEL} FROM story_panels WHERE story_id = $1"  # noqa: S608 - column list
            " ORDER BY position, id",
            story_id,
        )
        return [_panel(row) for row in rows]

    async def panel(self, panel_id: int) -> Panel | None:
        rows = await self.database.fetch(
            f"SELECT {_PANEL} FROM story_panels WHERE id = $1",  # noqa: S608 - column list
            panel_id,
        )
        return _panel(rows[0]) if rows else None

    async def image(self, sha256: str) -> CheckedImage | None:
        rows = await self.database.fetch(
            "SELECT format, width, height, data FROM images WHERE sha256 = $1", sha256
        )
        if not rows:
            return None
        row = rows[0]
        return CheckedImage(bytes(row["data"]), row["format"], row["width"], row["height"])

    async def add_result(self, story: Story, job_id: int, added_by: int, now: float) -> Panel:
        """Add a result as the story's last panel: its image is referred to, never copied or
        generated again. A result still being posted counts: its image is stored and paid for,
        and its 📖 can be pressed the moment its message appears, before the job is marked
        delivered."""

        async def work(tx: Executor) -> int:
            await self._one_at_a_time(tx, f"story:{story.id}")
            found = await tx.fetch(
                "SELECT i.sha256 FROM job_images i JOIN jobs j ON j.id = i.job_id"
                " WHERE i.job_id = $1 AND i.role = $2 AND j.state IN ($3, $4)",
                job_id,
                RESULT,
                GENERATED,
                DELIVERED,
            )
            if not found:
                raise StoryError(NOT_KEPT)
            [count] = await tx.fetch(
                "SELECT COUNT(*) AS n FROM story_panels WHERE story_id = $1", story.id
            )
            self._check_room(story, int(count["n"]) + await _pending(tx, story.id))
            # Its image counts as used now: the sweep's window starts again, although the
            # panel's own reference keeps it whatever the window.
            await tx.execute(
                "UPDATE images SET last_used_at = $1 WHERE sha256 = $2", now, found[0]["sha256"]
            )
            [row] = await tx.fetch(
                "INSERT INTO story_panels (story_id, position, job_id, image_sha256, caption,"
                " added_by, added_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                story.id,
                int(count["n"]),
                job_id,
                found[0]["sha256"],
                "",
                added_by,
                now,
            )
            return int(row["id"])

        try:
            panel_id = await self.database.run(work)
        except (asyncpg.ForeignKeyViolationError, sqlite3.IntegrityError):
            # The story was deleted meanwhile.
            raise StoryError(mark("This story was deleted.")) from None
        panel = await self.panel(panel_id)
        assert panel is not None
        return panel

    def _check_room(self, story: Story, count: int) -> None:
        """Panels and panels asked for count alike against STORY_MAX_PANELS."""
        if count >= self.max_panels:
            raise StoryError(
                mark("“{name}” has {count} panels, the most a story may have."),
                name=story.name,
                count=count,
            )

    async def reserve(
        self,
        story: Story,
        interaction_id: int,
        added_by: int,
        now: float,
        *,
        replaces: Panel | None = None,
    ) -> None:
        """Hold the story's next panel for the request of `interaction_id` (/story add), or
        the panel it `replaces` (🎲 redo): settled once delivered (`settle`); StoryError if
        the story is full."""

        async def work(tx: Executor) -> None:
            await self._one_at_a_time(tx, f"story:{story.id}")
            if replaces is None:
                [count] = await tx.fetch(
                    "SELECT COUNT(*) AS n FROM story_panels WHERE story_id = $1", story.id
                )
                self._check_room(story, int(count["n"]) + await _pending(tx, story.id))
            await tx.execute(
                "INSERT INTO story_pending (interaction_id, story_id, added_by,"
                " replaces_panel_id, created_at) VALUES ($1, $2, $3, $4, $5)",
                interaction_id,
                story.id,
                added_by,
                replaces.id if replaces is not None else None,
                now,
            )

        await self.database.run(work)

    async def settle(self, now: float, story_id: int | None = None) -> int:
        """Make panels of the delivered requests of /story add (of one story, or all); let go
        of those that ended without a result. Returns how many panels were made."""
        return await settle_pending(self.database, now, story_id)

    async def last_character_id(self, story_id: int) -> int | None:
        """The saved character the story's last panel posed, while its request is kept."""
        rows = await self.database.fetch(
            "SELECT j.character_id FROM story_panels p JOIN jobs j ON j.id = p.job_id"
            " WHERE p.story_id = $1 AND j.character_id IS NOT NULL"
            " ORDER BY p.position DESC LIMIT 1",
            story_id,
        )
        return int(rows[0]["character_id"]) if rows else None

    async def move(self, panel: Panel, step: int) -> bool:
        """Swap the panel with its neighbour `step` (-1: earlier, 1: later); False at an end."""

        async def work(tx: Executor) -> bool:
            await self._one_at_a_time(tx, f"story:{panel.story_id}")
            rows = await tx.fetch(
                "SELECT id, position FROM story_panels WHERE story_id = $1 ORDER BY position, id",
                panel.story_id,
            )
            order = [int(row["id"]) for row in rows]
            if panel.id not in order:
                return False
            here = order.index(panel.id)
            there = here + step
            if not 0 <= there < len(order):
                return False
            order[here], order[there] = order[there], order[here]
            for position, panel_id in enumerate(order):
                await tx.execute(
                    "UPDATE story_panels SET position = $1 WHERE id = $2", position, panel_id
                )
            return True

        return await self.database.run(work)

    async def set_caption(self, panel_id: int, caption: str) -> str:
        caption = clean_caption(caption)
        await self.database.execute(
            "UPDATE story_panels SET caption = $1 WHERE id = $2", caption, panel_id
        )
        return caption

    async def remove(self, panel: Panel) -> bool:
        """Remove a panel (the others close up), and its image unless something else uses it."""

        async def work(tx: Executor) -> bool:
            await self._one_at_a_time(tx, f"story:{panel.story_id}")
            gone = await tx.fetch("DELETE FROM story_panels WHERE id = $1 RETURNING id", panel.id)
            await tx.execute(
                "UPDATE story_panels SET position = position - 1"
                " WHERE story_id = $1 AND position > $2",
                panel.story_id,
                panel.position,
            )
            return bool(gone)

        removed = await self.database.run(work)
        await image_store.delete_unused_quietly(self.database, [panel.image_sha256])
        return removed

    async def _one_at_a_time(self, tx: Executor, key: str) -> None:
        """Hold others' changes to the same owner's stories (or the same story's panels) until
        `tx` ends, so that a count or an order read stays true until written: on PostgreSQL two
        at once would otherwise both see room for one more. SQLite's write transactions
        (BEGIN IMMEDIATE) are one at a time already."""
        if self.database.dialect == "postgres":
            await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)


async def _renumber(tx: Executor, story_ids: set[int]) -> None:
    """Close the gaps left in (shared) stories by panels taken out of them."""
    for story_id in sorted(story_ids):
        rows = await tx.fetch(
            "SELECT id FROM story_panels WHERE story_id = $1 ORDER BY position, id", story_id
        )
        for number, row in enumerate(rows):
            await tx.execute(
                "UPDATE story_panels SET position = $1 WHERE id = $2", number, row["id"]
            )


async def _pending(tx: Executor, story_id: int) -> int:
    [row] = await tx.fetch(
        "SELECT COUNT(*) AS n FROM story_pending WHERE story_id = $1 AND replaces_panel_id IS NULL",
        story_id,
    )
    return int(row["n"])


async def settle_pending(database: Database, now: float, story_id: int | None = None) -> int:
    """`StoryStore.settle`: also run by the storage sweep, so that a delivered request becomes
    its panel before its images could expire."""
    where, args = ("", []) if story_id is None else (" WHERE p.story_id = $1", [story_id])
    rows = await database.fetch(
        "SELECT p.interaction_id, p.created_at, j.id AS job_id, j.state FROM story_pending p"  # noqa: S608 - constant clauses
        f" LEFT JOIN jobs j ON j.interaction_id = p.interaction_id{where}"
        " ORDER BY j.id, p.interaction_id",
        *args,
    )
    made = 0
    for row in rows:
        if row["job_id"] is None:
            if row["created_at"] < now - PENDING_SECONDS:
                await database.execute(
                    "DELETE FROM story_pending WHERE interaction_id = $1", row["interaction_id"]
                )
        elif row["state"] in (FAILED, CANCELLED):
            await database.execute(
                "DELETE FROM story_pending WHERE interaction_id = $1", row["interaction_id"]
            )
        elif row["state"] == DELIVERED:
            work = _panel_of(database, int(row["interaction_id"]), int(row["job_id"]), now)
            count, let_go = await database.run(work)
            made += count
            await image_store.delete_unused_quietly(database, let_go)
    return made


def _panel_of(
    database: Database, interaction_id: int, job_id: int, now: float
) -> Callable[[Executor], Awaitable[tuple[int, list[str]]]]:
    """The work that makes a delivered request its panel: a new one at the end, or in place of
    the one it redoes (whose image is let go of, unless something else uses it)."""

    async def work(tx: Executor) -> tuple[int, list[str]]:
        taken = await tx.fetch(
            "DELETE FROM story_pending WHERE interaction_id = $1"
            " RETURNING story_id, added_by, replaces_panel_id",
            interaction_id,
        )
        if not taken:
            return 0, []  # another process made the panel
        found = await tx.fetch(
            "SELECT sha256 FROM job_images WHERE job_id = $1 AND role = $2", job_id, RESULT
        )
        if not found:
            return 0, []
        story_id = int(taken[0]["story_id"])
        if database.dialect == "postgres":  # as `StoryStore._one_at_a_time`
            await tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"story:{story_id}"
            )
        replaces = taken[0]["replaces_panel_id"]
        old = await tx.fetch(
            "SELECT image_sha256 FROM story_panels WHERE id = $1 AND story_id = $2",
            replaces,
            story_id,
        )
        if old:  # a redo of a panel that still stands: in its place, with its caption
            await tx.execute(
                "UPDATE story_panels SET job_id = $1, image_sha256 = $2, added_at = $3"
                " WHERE id = $4",
                job_id,
                found[0]["sha256"],
                now,
                replaces,
            )
            return 1, [old[0]["image_sha256"]]
        [count] = await tx.fetch(
            "SELECT COUNT(*) AS n FROM story_panels WHERE story_id = $1", story_id
        )
        await tx.execute(
            "INSERT INTO story_panels (story_id, position, job_id, image_sha256, caption,"
            " added_by, added_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            story_id,
            int(count["n"]),
            job_id,
            found[0]["sha256"],
            "",
            int(taken[0]["added_by"]),
            now,
        )
        return 1, []

    return work
