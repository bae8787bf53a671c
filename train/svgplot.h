/* A small SVG line plot for reports (serc report): axes with "nice" ticks, a grid, several series with
 * a legend, and an HTML/XML escaper shared with the report writer.
 *
 * The plot is written without an XML prolog or xmlns attribute, to be inlined in an HTML5 document
 * (where <svg> needs neither).
 * Points whose x or y is not finite (NaN, +-inf) are skipped and break the line there, so a diverged
 * step or a missing value shows as a gap instead of a spike. */
#ifndef SERC_SVGPLOT_H
#define SERC_SVGPLOT_H

#include <stddef.h>

#include "json.h"

/* One line: points (x[i], y[i]), i < n. name appears in the legend (NULL: no legend entry). */
typedef struct SvgSeries {
    const char *name;
    const double *x, *y;
    int n;
} SvgSeries;

typedef struct SvgPlot {
    const char *title;           /* above the plot (NULL: none) */
    const char *xlabel, *ylabel; /* axis titles (NULL: none) */
    int width, height;           /* pixels; 0: 560 x 320 */
    int markers;                 /* 1: a dot at every point; 0: dots only on series of at most 40 points */
} SvgPlot;

/* Appends an <svg> element: the plot area spans the finite points of every series (padded when all
 * values are equal), ticks at 1, 2 or 5 times a power of ten (about 6 per axis), one colour per
 * series in order (10 colours, then dashed repeats), legend to the right. With no finite point at all
 * the plot says "no data". */
void svgplot_lines(const SvgPlot *p, const SvgSeries *series, int n_series, JsonBuf *out);

/* The tick step of a "nice" axis over [lo, hi] with about `ticks` ticks: 1, 2 or 5 x 10^k (Heckbert,
 * "Nice numbers for graph labels", Graphics Gems, 1990). lo < hi. */
double svgplot_nice_step(double lo, double hi, int ticks);

/* Formats a tick value v on an axis whose step is `step`: as many decimals as the step needs (0.25 ->
 * "0.25", 0.0002 -> "0.0002"), exponent form for very large or very small magnitudes ("1.5e+06",
 * "2e-07"), and "0" for values within step/1e6 of zero (no "-0.000"). */
void svgplot_format_tick(double v, double step, char *buf, size_t n);

/* Appends s with & < > " ' escaped as entities (safe in HTML/XML text and in quoted attributes). */
void html_escape(JsonBuf *out, const char *s);

#endif
