"""BrainScaleS wafer resources: geometry, licences, defects."""
