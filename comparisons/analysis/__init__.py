"""What the runs show: the side-by-side report and exports, disagreements, the data-quality report, study tables and
charts, forecasts and the decision card. Imports running, the ground and the methods."""
