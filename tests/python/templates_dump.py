#!/usr/bin/env python3
"""Python side of the template catalogue interop test (cfdb 0.11.0 / cfdb-vars 0.2.9).

Usage:
    templates_dump.py

Creates, in a temporary directory, cfdb datasets holding every template of the installed
cfdb-vars, each created WITHOUT data through ``ds.create.coord.<short>()`` /
``ds.create.data_var.<short>(coords)``:

* grid datasets for the non-geometry coordinate templates -- several, since cfdb refuses two
  coordinates with the same axis (latitude and y are both ``y`` ...). Each template goes into
  the first dataset whose axes it does not clash with;
* the first grid dataset also gets a generic ``int32`` coordinate ``template_dim`` with data,
  which every data-variable template is created over;
* one ``ts_ortho`` dataset per geometry template (they all have axis ``xy``).

The datasets are closed, then read back from the files with booklet and printed as one JSON
document on stdout:

    {"coords":    {short: {"name": str, "dtype": {...}, "attrs": {...}, "axis": str | null}},
     "data_vars": {short: {"name": str, "dtype": {...}, "attrs": {...}}}}

``dtype`` is the DataType object from the stored metadata (``booklet.open(path).get_metadata()``),
``attrs`` the stored ``_{name}.attrs`` value, ``axis`` the stored axis. Key order is kept as
stored, integer/float typing as orjson decoded it. Shorts are in cfdb-vars' ``short_name_map``
order.
"""
import json
import os
import sys
import tempfile

import booklet
import cfdb
import numpy as np
from cfdb_vars import coord_var_defs, data_var_defs, short_name_map

GEOMETRY = ('point', 'line', 'linestring', 'polygon')
DIM = 'template_dim'


def template_axis(var_name):
    """The internal axis cfdb derives for a coordinate template (only used for grouping)."""
    var_def = coord_var_defs[var_name]
    cf_axis = (var_def.attrs or {}).get('axis')
    if cf_axis:
        return cf_axis.lower()
    if var_def.dtype.name in GEOMETRY:
        return 'xy'
    return None


def main():
    coord_shorts = [s for s, v in short_name_map.items() if v in coord_var_defs]
    data_shorts = [s for s, v in short_name_map.items() if v in data_var_defs]

    with tempfile.TemporaryDirectory() as tmp:
        # plans: [dataset_type, set of axes used, [coord shorts]]
        plans = [['grid', set(), []]]
        for short in coord_shorts:
            var_name = short_name_map[short]
            ds_type = 'ts_ortho' if coord_var_defs[var_name].dtype.name in GEOMETRY else 'grid'
            axis = template_axis(var_name)
            for plan in plans:
                if plan[0] == ds_type and (axis is None or axis not in plan[1]):
                    break
            else:
                plan = [ds_type, set(), []]
                plans.append(plan)
            if axis is not None:
                plan[1].add(axis)
            plan[2].append(short)

        where = {}  # short -> (path, var name)
        paths = []
        for i, (ds_type, _, shorts) in enumerate(plans):
            path = os.path.join(tmp, f'templates_{i}.cfdb')
            paths.append(path)
            with cfdb.open_dataset(path, 'n', dataset_type=ds_type) as ds:
                for short in shorts:
                    coord = getattr(ds.create.coord, short)()
                    where[short] = (path, coord.name)
                if i == 0:
                    ds.create.coord.generic(DIM, np.arange(4, dtype='int32'), dtype='int32')
                    for short in data_shorts:
                        data_var = getattr(ds.create.data_var, short)((DIM,))
                        where[short] = (path, data_var.name)

        metas = {}
        attrs = {}
        for path in paths:
            with booklet.open(path) as blt:
                metas[path] = blt.get_metadata()
                for name in metas[path]['variables']:
                    raw = blt.get(f'_{name}.attrs')
                    attrs[(path, name)] = {} if raw is None else json.loads(raw)

    def entry(short, coord):
        path, name = where[short]
        var = metas[path]['variables'][name]
        assert var['type'] == ('coord' if coord else 'data_var'), (short, var)
        out = {'name': name, 'dtype': var['dtype'], 'attrs': attrs[(path, name)]}
        if coord:
            out['axis'] = var['axis']
        return out

    doc = {
        'coords': {s: entry(s, True) for s in coord_shorts},
        'data_vars': {s: entry(s, False) for s in data_shorts},
    }
    json.dump(doc, sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
