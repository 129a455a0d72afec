"""Measurements computed from model outputs: pure functions over numpy arrays, no Django, no model server.

* ``nodules``: 3-D connected components of a nodule mask -> volume, equivalent-sphere and longest axial diameter.
* ``cardiac``: cine short-axis label masks -> ventricular volumes (Simpson's method of discs), EF, myocardial mass.
* ``body_regions``: per-slice region labels -> contiguous ranges along the series.
* ``mammography``: CenterNet heat map and box sizes -> lesion boxes, and a demo BI-RADS-style category.

Units are millimetres, millilitres and grams throughout; spacings are always passed in, never assumed.
"""
