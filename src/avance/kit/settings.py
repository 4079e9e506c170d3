"""Settings of a node, from the environment (prefix ``AVANCE_``) or a ``.env`` file."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'avance.db').as_posix()}"

    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
