"""Running methods and studies for a visitor, within what a visitor may ask: identities, the gate, one run (api), a
study's grid of runs, locally or on Ray. Imports the ground and the methods."""
