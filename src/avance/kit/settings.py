"""Settings of a node, from the environment (prefix ``AVANCE_``) or a ``.env`` file."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


KEY_DIR = "exchange-keys"
"""The folder of ``data_dir`` holding the node's private keys (0700, files 0600): its exchange
signing keys (``avance.exchange.keys``) and the key that seals second-factor secrets
(``avance.auth.totp``). Backed up together, copied to every host of the node."""


class Settings(BaseSettings):
    """Configuration of one Avance node (one administration)."""

    model_config = SettingsConfigDict(env_prefix="AVANCE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("var"), description="Where the SQLite database and node files live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file DATA_DIR/avance.db."
    )
    country: str | None = Field(None, description="ISO 3166 alpha-2 code of the administration.")
    lang: str = Field("fr", description="Default language for messages (fr or en).")
    rules_file: Path | None = Field(None, description="Selectivity rules (YAML) of the rule assessor.")
    policy_file: Path | None = Field(None, description="Selection policy (YAML): lane rates per office, exploration share.")
    models_dir: Path | None = Field(None, description="Where learned models are installed; default: DATA_DIR/models.")
    exchange_window_seconds: int = Field(600, description="Exchange: accepted clock difference of a message's timestamp (replay window).")
    exchange_dead_letter_hours: float = Field(72.0, description="Exchange: age after which an undelivered message goes to dead letter.")
    exchange_retry_max_seconds: float = Field(300.0, description="Exchange: longest wait between two delivery attempts.")
    matching_value_tolerance_percent: Decimal = Field(Decimal(5), description="Mirror control: largest value difference accepted as conforme (percent).")
    matching_quantity_tolerance_percent: Decimal = Field(Decimal(2), description="Mirror control: largest quantity difference accepted as conforme (percent).")
    matching_large_value_gap_percent: Decimal = Field(Decimal(20), description="Mirror control: import value this far below the export value sends the declaration to the red lane.")
    matching_deadline_days: int = Field(30, description="Mirror control: days after the export date before an unmatched export is non retrouvée.")
    schedule_file: Path | None = Field(None, description="National tariff schedule (CSV).")
    offices_file: Path | None = Field(None, description="Customs offices (YAML) replacing the shipped list.")
    arrival_past_days: int = Field(30, description="How far before registration an arrival may lie.")
    arrival_future_days: int = Field(120, description="How far after registration an arrival may lie.")
    clock_skew_seconds: int = Field(
        600,
        ge=0,
        le=3600,
        description="How far in the future a reported time (arrival, control, payment, release, transit event) may lie, for clocks that differ.",
    )

    session_idle_minutes: int = Field(30, ge=1, le=24 * 60, description="Pages: a signed-in session unused this long ends.")
    # --- identity (docs/identity.md) ---
    token_days: int = Field(90, ge=1, le=3650, description="Identity: days a new or rotated API token works.")
    segregation_of_duties: bool = Field(True, description="Identity: the officer who recorded a red-lane control result may not release the goods.")
    require_totp: bool = Field(True, description="Identity: administrators and analysts signing in with a password must use a second factor (TOTP), enrolling at their next sign-in.")
    release_on_arrival_minutes: int = Field(60, ge=0, le=7 * 24 * 60, description="Release times: goods released within this time of arrival count as released on arrival.")

    # --- limits, transport and keys (docs/deployment.md) ---
    rate_limit_token_per_minute: int = Field(600, ge=0, description="API: requests a minute one bearer token may make (0: no limit), per process.")
    rate_limit_address_per_minute: int = Field(1200, ge=0, description="API: requests a minute one source address may make (0: no limit), per process.")
    rate_limit_inbox_per_minute: int = Field(300, ge=0, description="Exchange inbox: deliveries a minute one source address may make (0: no limit), per process.")
    exchange_inbox_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Exchange inbox: the only source addresses or networks (CIDR, comma-separated) it accepts; empty: any."
    )
    exchange_rejection_sample: int = Field(20, ge=1, le=1000, description="Exchange: rejected messages kept as a sample per sender and reason (the rest are only counted).")
    exchange_rejection_retention_days: int = Field(90, ge=1, le=3650, description="Exchange: days rejection counts and samples are kept.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins (comma-separated, e.g. https://portal.example) whose pages may call the API from a browser; empty: none."
    )
    key_passphrase: SecretStr | None = Field(None, description="Passphrase of the encrypted private keys (prefer KEY_PASSPHRASE_FILE).")
    key_passphrase_file: Path | None = Field(None, description="File holding the passphrase of the encrypted private keys.")

    @field_validator("exchange_inbox_allow", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("exchange_inbox_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return [str(ip_network(v, strict=False)) for v in value]

    def resolved_key_passphrase(self) -> bytes | None:
        """The passphrase of the node's encrypted private keys: the file's first line, else the
        variable, else None."""
        if self.key_passphrase_file is not None:
            text = Path(self.key_passphrase_file).read_text(encoding="utf-8")
            return text.splitlines()[0].encode("utf-8") if text.strip() else None
        if self.key_passphrase is not None and self.key_passphrase.get_secret_value():
            return self.key_passphrase.get_secret_value().encode("utf-8")
        return None

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'avance.db').as_posix()}"

    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
