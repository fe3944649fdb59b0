"""Energy and CO2 of a training run, estimated offline with CodeCarbon (no network call).

Opt-in through ``pretrain.carbon_country`` (the country's grid carbon intensity is what turns
energy into CO2); the estimate lands in the stage's summary, and so in meta.json and the card.
"""

from __future__ import annotations

import logging

from medforge.errors import ConfigError


class Emissions:
    def __init__(self, country: str, enabled: bool = True):
        self.tracker = None
        if not (country and enabled):
            return
        try:
            from codecarbon import OfflineEmissionsTracker
        except ImportError:
            raise ConfigError("pretrain.carbon_country needs codecarbon: pip install codecarbon") from None
        import pycountry  # a codecarbon dependency

        # codecarbon silently falls back to a world average for a code it does not know
        if pycountry.countries.get(alpha_3=country.upper()) is None:
            raise ConfigError(f"pretrain.carbon_country {country!r} is not a country code; use an ISO 3166 "
                              "alpha-3 code such as FRA, USA or JPN")
        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        self.tracker = OfflineEmissionsTracker(country_iso_code=country.upper(), save_to_file=False,
                                               log_level="error", measure_power_secs=15)
        self.tracker.start()

    def stop(self) -> dict | None:
        if self.tracker is None:
            return None
        kg = self.tracker.stop()
        data = self.tracker.final_emissions_data
        return {"co2_eq_kg": kg, "energy_kwh": data.energy_consumed, "duration_s": data.duration,
                "country": data.country_name, "cpu": data.cpu_model, "gpu": data.gpu_model or None,
                "method": "codecarbon offline tracker"}
