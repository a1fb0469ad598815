"""The ground every method stands on: errors, settings, the device, data, models, configs, the method registry, run
records, the bounded runs folder, estimates, statistics and model cards. Imports nothing above it and no method."""
