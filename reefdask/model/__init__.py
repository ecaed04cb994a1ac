"""The model contract: what training, prediction and the global map all call, once.

- :mod:`.card`: the model card beside the weights (bands, scaler, nodata encoding,
  classes, halo, fitted reef decision, scores);
- :mod:`.preprocess`: pixels -> model inputs (:class:`~.preprocess.Preprocessing`,
  :func:`~.preprocess.encode_features` and its TensorFlow twin for the training pipeline);
- :mod:`.scaler`: the fitted per-band scaler (fitting lives in :mod:`reefdask.train.scalers`);
- :mod:`.resample`: the one downsampling rule (half up, nodata collisions nudged);
- :mod:`.fingerprint`: weights digest + preprocessing -> the fingerprint on every output;
- :mod:`.geometry` and :mod:`.strategies`: strategy, halo, window and step, and how a
  model runs over one tile (one halo rule for chunks and quads);
- :mod:`.loading`: a loaded model's shapes and receptive field, the resources model tasks need;
- :mod:`.decision`: applying the reef decision a card carries.

The alpha/nodata policy is :mod:`reefdask.core.nodata`, class lookup tables are
:mod:`reefdask.core.lut` (through the class schema) and the metrics are
:mod:`reefdask.calval.metrics`. Loading a model once per process (the cache) is
:func:`reefdask.predict.model.load_model`. Submodules are imported on use, so importing
this package stays light.
"""
