"""`karl predict`: a run's final ensemble over a catalogue's candidate pairs, into raw.pair_predictions
(model_store: the recorded ensembles; resolve: which run, model and catalogue; predict: the scan)."""
