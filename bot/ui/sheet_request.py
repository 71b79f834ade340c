"""Asking for a character's sheet: the private preview of what it costs, then on Confirm all its
panels stored as jobs in one decision (all of them fit the quotas, or none is started); and a
failed panel made again alone.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import discord

from bot.domain.characters import Character
from bot.domain.pose_defaults import resolve_options
from bot.domain.pose_request import InvalidRequest, random_seed
from bot.domain.quotas import OverQuota, Quota, daily_quotas, room_for, rules_for
from bot.domain.server_rules import ServerSettings
from bot.domain.sheets import KIND_NAMES, VIEWS, Kind, panel_interaction_id, panel_prompt
from bot.storage.cooldown_store import CoolingDown
from bot.storage.job_store import CHARACTER, NewJob, StoredImage
from bot.storage.sheet_store import NewSheet, Sheet
from bot.ui.confirm import Confirm
from bot.ui.i18n import locale_of, mark, public_locale, tr
from bot.ui.intake import TOKEN_LIFETIME_SECONDS, Intake, _refused
from bot.ui.replies import timestamp, user_text

if TYPE_CHECKING:
    from bot.posebot import PoseBot


async def preview(
    bot: PoseBot, interaction: discord.Interaction, character: Character, kind: Kind
) -> tuple[str, discord.ui.View | None]:
    """What the sheet will cost, and Confirm / Cancel when it fits the quotas (else no
    buttons: nothing can be started)."""
    locale = locale_of(interaction)
    server = await _server(bot, interaction.guild_id)
    count = len(VIEWS[kind])
    price = bot.settings.cost_per_generation_usd
    quotas = await daily_quotas(
        bot.store.ledger, bot.settings, server, interaction.user.id, bot.clock()
    )
    lines = [
        tr(
            locale,
            "**{name}**, {kind} sheet: {count} generations, ${dollars} in all.",
            name=character.name,
            kind=tr(locale, KIND_NAMES[kind]),
            count=count,
            dollars=f"{count * price:.2f}",
        )
    ]
    lines += [_quota_line(locale, quota, count) for quota in quotas.quotas]
    refusal = room_for(quotas, count)
    if refusal is not None:
        lines.append(user_text(locale, _refused(refusal)))
        return "\n".join(lines), None
    lines.append(
        tr(locale, "Each panel is posted when it is done, then the sheet with all of them.")
    )

    async def start() -> str:
        return await start_sheet(bot, interaction, character, kind)

    view = Confirm(
        interaction,
        start,
        working=tr(locale, "Starting…"),
        cancelled=tr(locale, "Cancelled: nothing was generated or charged."),
        expired=tr(locale, "Not confirmed in time: nothing was generated or charged."),
    )
    return "\n".join(lines), view


def _quota_line(locale: discord.Locale, quota: Quota, count: int) -> str:
    dollars = quota.name == mark("The bot's daily budget")
    used = f"${quota.used:.2f}" if dollars else f"{quota.used:g}"
    limit = f"${quota.limit:.2f}" if dollars else f"{quota.limit:g}"
    return tr(
        locale,
        "{quota}: {used} of {limit} used; this sheet takes {count} of the {left} generations left.",
        quota=tr(locale, quota.name),
        used=used,
        limit=limit,
        count=count,
        left=_left(quota),
    )


def _left(quota: Quota) -> str:
    return "∞" if quota.left == float("inf") else f"{quota.left:g}"


async def start_sheet(
    bot: PoseBot, interaction: discord.Interaction, character: Character, kind: Kind
) -> str:
    """Store the sheet and all its panels (Confirm): one quota decision for all, one cooldown.
    The answer replaces the preview."""
    locale = locale_of(interaction)
    intake: Intake = bot.intake
    server = await _server(bot, interaction.guild_id)
    defaults = await bot.user_settings.get(interaction.user.id)
    seed = random_seed()  # one seed for every panel: the same character throughout
    now = bot.clock()
    sheet_id = await bot.sheets.create(
        NewSheet(
            interaction_id=interaction.id,
            requester_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or 0,
            character_id=character.id,
            character_name=character.name,
            kind=kind,
            guild_locale=public_locale(interaction).value,
            private=server.private_results,
            upload_limit=interaction.filesize_limit,
            created_at=now,
        )
    )
    jobs = []
    for position in range(len(VIEWS[kind])):
        options = resolve_options(
            defaults, prompt=panel_prompt(character.description, kind, position), seed=seed
        )
        options = await intake.server_rules_applied(interaction, server, options)
        jobs.append(
            NewJob(
                requester_id=interaction.user.id,
                guild_id=interaction.guild_id,
                channel_id=interaction.channel_id or 0,
                application_id=interaction.application_id,
                interaction_id=panel_interaction_id(sheet_id, position),
                token=interaction.token,
                token_expires_at=interaction.created_at.timestamp() + TOKEN_LIFETIME_SECONDS,
                status_message_id=None,
                upload_limit=interaction.filesize_limit,
                options=options,
                created_at=now,
                cost=bot.settings.cost_per_generation_usd,
                private=server.private_results,
                locale=locale.value,
                guild_locale=public_locale(interaction).value,
                character_id=character.id,
                sheet_id=sheet_id,
                sheet_position=position,
            )
        )
    image = StoredImage.of(CHARACTER, character.image, uploaded_by=character.owner_id)
    try:
        await bot.runner.submit_all(
            jobs,
            [image],
            quotas=rules_for(bot.settings, server),
            cooldown_seconds=bot.cooldowns.seconds,
        )
    except OverQuota as over:
        raise _refused(over.refusal) from None
    except CoolingDown as cooling:
        bot.cooldowns.hold_until(interaction.user.id, cooling.until)
        raise InvalidRequest(
            mark("You can start your next generation {when}."), when=timestamp(cooling.until)
        ) from None
    return tr(
        locale,
        "Started: {count} generations are queued. The sheet is posted when all are done.",
        count=len(jobs),
    )


async def redo_panel(
    bot: PoseBot, interaction: discord.Interaction, sheet: Sheet, position: int
) -> str:
    """A failed panel made again, alone (paid once more, under the quotas and the cooldown);
    the sheet is posted again when it is done. Raises InvalidRequest when it may not be."""
    failed_id = await bot.sheets.failed_panel(sheet.id, position)
    failed = await bot.store.job(failed_id) if failed_id is not None else None
    if failed is None:
        raise InvalidRequest(mark("This panel is no longer missing."))
    character = await bot.characters.get(sheet.character_id) if sheet.character_id else None
    if character is None:
        raise InvalidRequest(mark("The character of this sheet is no longer saved."))
    server = await _server(bot, sheet.guild_id)
    now = bot.clock()
    job = dataclasses.replace(
        failed,
        interaction_id=interaction.id,
        token=interaction.token,
        token_expires_at=now + TOKEN_LIFETIME_SECONDS,
        created_at=now,
    )
    image = StoredImage.of(CHARACTER, character.image, uploaded_by=character.owner_id)
    try:
        await bot.runner.submit_all(
            [_new_job(job)],
            [image],
            quotas=rules_for(bot.settings, server),
            cooldown_seconds=bot.cooldowns.seconds,
        )
    except OverQuota as over:
        raise _refused(over.refusal) from None
    except CoolingDown as cooling:
        raise InvalidRequest(
            mark("You can start your next generation {when}."), when=timestamp(cooling.until)
        ) from None
    locale = locale_of(interaction)
    label = tr(locale, VIEWS[sheet.kind][position].label)
    return tr(locale, "Making the {label} panel again; the sheet follows.", label=label)


def _new_job(job: NewJob) -> NewJob:
    """Only what a new job is made of (a failed job's run and its end left behind)."""
    names = [field.name for field in dataclasses.fields(NewJob)]
    return NewJob(**{name: getattr(job, name) for name in names})


async def _server(bot: PoseBot, guild_id: int | None) -> ServerSettings:
    return await bot.servers.get(guild_id) if guild_id else ServerSettings(0)
