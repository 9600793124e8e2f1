"""Preprocessing and data modules between reference files and the networks.

- :mod:`hepgan.data.showers`: calorimeter showers (:class:`~hepgan.data.showers.ShowerData`),
  with :mod:`~hepgan.data.transforms` and the cell :mod:`~hepgan.data.calibration`;
- :mod:`hepgan.data.events`: event kinematics (:class:`~hepgan.data.events.EventData`),
  with :mod:`~hepgan.data.event_transforms`;
- :mod:`hepgan.data.split`: the training / held-out split.

Which module serves a config is decided once, by its domain (:mod:`hepgan.domains`).
"""
