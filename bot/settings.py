"""Configuration from the environment or `.env`, validated once at start-up."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.core.workdays import DaysOff, WorkHours, parse_days_off, parse_work_hours

TELEGRAM_API_DEFAULT = "https://api.telegram.org"
VK_API_DEFAULT = "https://api.vk.ru"
# The placeholders of .env.example: `cp .env.example .env` alone must not start a bot that cannot work.
EXAMPLE_TOKEN = "123456789:AAExampleTokenFromBotFather"
EXAMPLE_STAFF_CHAT = -1001234567890
EXAMPLE_ADMINS = frozenset({111111111, 222222222})
EXAMPLE_VK_TOKEN = "vk1.a.example"
EXAMPLE_WEBHOOK_SECRET = "change-me"


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_weekly_time(raw: str) -> tuple[int, time] | None:
    """A weekday and a time of day written like `mon 09:00` (empty: none)."""
    text = raw.strip().lower()
    if not text:
        return None
    day, _sep, clock = text.partition(" ")
    try:
        at = parse_clock_time(clock) if day in WEEKDAYS else None
    except ValueError:
        at = None
    if at is None:
        raise ValueError("must be a weekday and a time like mon 09:00, or empty to switch it off")
    return WEEKDAYS.index(day), at


def parse_clock_time(raw: str) -> time | None:
    """A time of day written HH:MM (empty: none)."""
    text = raw.strip()
    if not text:
        return None
    hours, sep, minutes = text.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and len(hours) <= 2):
        raise ValueError("must be a time of day like 09:00, or empty to switch it off")
    if int(hours) > 23 or int(minutes) > 59:
        raise ValueError("must be a time of day like 09:00, or empty to switch it off")
    return time(int(hours), int(minutes))


class ConfigurationError(Exception):
    """A setting that cannot work, found at start-up: `python -m bot` prints it as one line and exits with 2."""


class Settings(BaseSettings):
    """Every setting of the bot; see `.env.example` and the README for what each means."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_token: str | None = None
    telegram_api_url: str = TELEGRAM_API_DEFAULT
    staff_chat_id: int | None = None
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    vk_token: str | None = None
    vk_group_id: int | None = Field(default=None, gt=0)
    vk_api_url: str = VK_API_DEFAULT
    data_dir: Path = Path("./data")
    staff_language: str = "ru"
    timezone: str = "Europe/Moscow"
    # Terms of new categories (each category's own are set with /category_terms), and how they are counted.
    default_take_hours: float = Field(default=4.0, ge=0.001, le=24 * 60)
    default_answer_hours: float = Field(default=24.0, ge=0.001, le=24 * 60)
    default_resolve_days: int = Field(default=8, ge=1, le=365)
    extra_days_off: str = ""
    work_hours: str = ""
    # Reminders: at this share of a term, and when it passes; how often the bot looks; the daily summary's time.
    remind_at: float = Field(default=0.75, gt=0, lt=1)
    reminder_interval_seconds: float = Field(default=30.0, gt=0, le=3600)
    daily_summary_at: str = "09:00"
    weekly_summary_at: str = "mon 09:00"
    # How close in place (metres) reports must be to form one of /problems' key problems.
    problem_radius_m: float = Field(default=300.0, ge=10, le=10_000)
    # How long after a resolution its resident may say "not fixed" and reopen it.
    reopen_days: int = Field(default=15, ge=1, le=365)
    album_wait_seconds: float = Field(default=0.8, gt=0, le=10)
    # One attempt of a live reply (sent at once, not queued) that takes longer is given up and tried again.
    reply_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Webhook mode (set WEBHOOK_URL): Telegram posts updates to this process instead of long polling.
    webhook_url: str | None = None
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(default=8080, ge=0, le=65535)
    webhook_path: str = "/telegram"
    webhook_secret: str | None = None
    # What this process does: all (default), intake (updates only) or worker (delivery only).
    bot_role: Literal["all", "intake", "worker"] = "all"
    redis_url: str | None = None
    redis_namespace: str = Field(default="priemnaya", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    # Personal data (152-FZ): who the operator is, the notice's version, how long personal data are kept.
    operator_name: str | None = Field(default=None, max_length=300)
    operator_contact: str | None = Field(default=None, max_length=300)
    privacy_notice_version: int = Field(default=1, ge=1)
    retention_days: int = Field(default=365, ge=0, le=36500)
    retention_check_seconds: float = Field(default=60.0, gt=0, le=86400)
    # Per-resident limits against floods (0 switches one off).
    reports_per_day: int = Field(default=5, ge=0)
    messages_per_minute: int = Field(default=30, ge=0)
    # Send budgets (0 switches one off); Telegram's and VK's published limits by default.
    telegram_group_per_minute: int = Field(default=20, ge=0)
    telegram_private_per_second: int = Field(default=1, ge=0)
    telegram_global_per_second: int = Field(default=30, ge=0)
    vk_per_second: int = Field(default=20, ge=0)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        # One line in .env: "ADMIN_IDS=123,456"; pydantic would want JSON otherwise.
        if isinstance(value, str):
            parts = [p for p in value.replace(";", ",").replace(" ", ",").split(",") if p]
            return frozenset(int(p) for p in parts)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("telegram_api_url", "vk_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("vk_api_url")
    @classmethod
    def _vk_base(cls, value: str) -> str:
        # vkbottle's own constant is https://api.vk.ru/method/; the base is taken with or without that /method.
        return value.removesuffix("/method").rstrip("/")

    @field_validator("webhook_path")
    @classmethod
    def _webhook_path(cls, value: str) -> str:
        if not value.startswith("/") or value.rstrip("/") == "/healthz":
            raise ValueError("must start with / and not be /healthz (the health check's path)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_https(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be the public https:// address Telegram posts updates to")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_chars(cls, value: str | None) -> str | None:
        # Telegram allows 1-256 characters A-Z, a-z, 0-9, _ and - in the secret token header.
        if value is not None and not (0 < len(value) <= 256 and all(c.isalnum() or c in "_-" for c in value)):
            raise ValueError("1 to 256 characters: letters, digits, _ and -")
        return value

    @field_validator("operator_name", "operator_contact")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("extra_days_off")
    @classmethod
    def _days_off(cls, value: str) -> str:
        parse_days_off(value)
        return value

    @field_validator("work_hours")
    @classmethod
    def _work_hours(cls, value: str) -> str:
        parse_work_hours(value)
        return value

    @field_validator("daily_summary_at")
    @classmethod
    def _summary_time(cls, value: str) -> str:
        parse_clock_time(value)
        return value

    @field_validator("weekly_summary_at")
    @classmethod
    def _weekly_time(cls, value: str) -> str:
        parse_weekly_time(value)
        return value

    @property
    def weekly_time(self) -> tuple[int, time] | None:
        """WEEKLY_SUMMARY_AT, parsed (None: switched off)."""
        return parse_weekly_time(self.weekly_summary_at)

    @property
    def days_off(self) -> DaysOff:
        """EXTRA_DAYS_OFF, parsed."""
        return parse_days_off(self.extra_days_off)

    @property
    def hours_of_work(self) -> WorkHours | None:
        """WORK_HOURS, parsed (None: hour terms count every hour)."""
        return parse_work_hours(self.work_hours)

    @property
    def summary_time(self) -> time | None:
        """DAILY_SUMMARY_AT, parsed (None: switched off)."""
        return parse_clock_time(self.daily_summary_at)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("staff_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in ("ru", "en"):
            raise ValueError("must be ru or en")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown time zone") from exc
        return value

    @model_validator(mode="after")
    def _telegram_complete(self) -> Settings:
        if self.telegram_token is None:
            raise ValueError("TELEGRAM_TOKEN is required: the staff chat lives in Telegram")
        if ":" not in self.telegram_token:
            raise ValueError("TELEGRAM_TOKEN looks wrong: expected the form 123456:ABC... from @BotFather")
        if self.staff_chat_id is None:
            raise ValueError("STAFF_CHAT_ID is required: the Telegram group where officials work")
        if self.vk_token is not None and self.vk_group_id is None:
            raise ValueError("VK_GROUP_ID is required with VK_TOKEN: the id of the community (a positive number)")
        self._not_examples()
        if self.webhook_url and not self.webhook_secret and self.redis_url and self.bot_role == "intake":
            # Each intake would make up its own secret, and the last to call setWebhook would lock the others out.
            raise ValueError(
                "WEBHOOK_SECRET is required for webhook intake processes sharing REDIS_URL (BOT_ROLE=intake):"
                " all of them must register the same secret with Telegram"
            )
        return self

    def _not_examples(self) -> None:
        if self.telegram_token == EXAMPLE_TOKEN:
            raise ValueError(
                "TELEGRAM_TOKEN is the example value from .env.example; put your bot's token from @BotFather"
            )
        if self.staff_chat_id == EXAMPLE_STAFF_CHAT:
            raise ValueError(
                "STAFF_CHAT_ID is the example value from .env.example; put the id of your staff group"
                " (add the bot to the group; supergroup ids start with -100)"
            )
        if self.admin_ids & EXAMPLE_ADMINS:
            raise ValueError(
                "ADMIN_IDS holds the example ids from .env.example; put your administrators' Telegram user ids"
                " or leave it empty"
            )
        if self.vk_token == EXAMPLE_VK_TOKEN:
            raise ValueError("VK_TOKEN is the example value from .env.example; put your community's token")
        if self.webhook_secret == EXAMPLE_WEBHOOK_SECRET:
            raise ValueError(
                "WEBHOOK_SECRET is the example value from .env.example; put a long random one or leave it unset"
                " (a random one is then made at each start)"
            )

    @property
    def vk_enabled(self) -> bool:
        """Whether residents are served on VK too."""
        return self.vk_token is not None

    @property
    def database_path(self) -> Path:
        """The SQLite file of the embedded default storage."""
        return self.data_dir / "priemnaya.sqlite3"

    @property
    def photos_dir(self) -> Path:
        """Where archived photos live, addressed by their SHA-256."""
        return self.data_dir / "photos"


def shown_url(url: str) -> str:
    """The URL as it may be printed or logged: without a password or user name in it."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return url.split("@")[-1]


def describe_error(exc: Exception) -> str:
    """Turn a settings validation error into one line per setting, naming the variable."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return str(exc)
    lines = []
    for err in exc.errors():
        loc = "_".join(str(p) for p in err["loc"]).upper()
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(lines)


class OfflineSettings(Settings):
    """The settings of commands that only read and write the database (figures, exports, demo data).

    They contact no messenger, so they need no token and no staff chat; every other setting is checked as usual.
    """

    @model_validator(mode="after")
    def _telegram_complete(self) -> OfflineSettings:
        return self
