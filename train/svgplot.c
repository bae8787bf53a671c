/* SVG line plots for serc report (svgplot.h). */
#include "svgplot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define APPEND_LIT(b, lit) jsonbuf_append((b), (lit), sizeof(lit) - 1)

void html_escape(JsonBuf *out, const char *s) {
    const char *run = s;
    for (; *s; s++) {
        const char *ent = NULL;
        switch (*s) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&#39;"; break;
        default: continue;
        }
        jsonbuf_append(out, run, (size_t)(s - run));
        jsonbuf_append(out, ent, strlen(ent));
        run = s + 1;
    }
    jsonbuf_append(out, run, (size_t)(s - run));
}

/* Heckbert's nice number: 1, 2, 5 or 10 times a power of ten near x (rounded, or the ceiling). */
static double nice_number(double x, int round_it) {
    double e = floor(log10(x)), f = x / pow(10.0, e), nf;
    if (round_it) nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * pow(10.0, e);
}

double svgplot_nice_step(double lo, double hi, int ticks) {
    if (!(hi > lo) || !isfinite(hi - lo)) return 1.0;
    if (ticks < 2) ticks = 2;
    return nice_number(nice_number(hi - lo, 0) / (ticks - 1), 1);
}

void svgplot_format_tick(double v, double step, char *buf, size_t n) {
    if (!isfinite(v)) {
        snprintf(buf, n, "%g", v);
        return;
    }
    if (step > 0 && fabs(v) < step * 1e-6) {
        snprintf(buf, n, "0");
        return;
    }
    if (!(step > 0) || fabs(v) >= 1e6 || step < 1e-5) {
        snprintf(buf, n, "%.3g", v);
        return;
    }
    int d = 0;
    for (double s = step; d < 10; d++, s *= 10)
        if (fabs(s - round(s)) < 1e-6 * s) break;
    snprintf(buf, n, "%.*f", d, v);
}

static const char *const COLOURS[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
#define N_COLOURS ((int)(sizeof COLOURS / sizeof COLOURS[0]))

/* An axis: the data range widened to whole tick steps. */
typedef struct Axis {
    double lo, hi, step;
} Axis;

static Axis nice_axis(double lo, double hi) {
    if (hi == lo) {
        double pad = lo != 0 ? fabs(lo) * 0.05 : 0.5;
        lo -= pad, hi += pad;
    }
    Axis a;
    a.step = svgplot_nice_step(lo, hi, 6);
    a.lo = floor(lo / a.step + 1e-9) * a.step;
    a.hi = ceil(hi / a.step - 1e-9) * a.step;
    if (!(a.hi > a.lo)) a.hi = a.lo + a.step;
    return a;
}

void svgplot_lines(const SvgPlot *p, const SvgSeries *series, int n_series, JsonBuf *out) {
    const int W = p->width > 0 ? p->width : 560, H = p->height > 0 ? p->height : 320;
    int named = 0;
    for (int s = 0; s < n_series; s++) named += series[s].name != NULL;
    const int L = 70, R = named ? 150 : 20, T = p->title ? 32 : 12, B = 46;
    const int pw = W - L - R, ph = H - T - B;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < series[s].n; i++) {
            double x = series[s].x[i], y = series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
        }
    jsonbuf_appendf(out,
                    "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
                    "font-size=\"12\" role=\"img\">\n<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
                    W, H, W, H, W, H);
    if (p->title) {
        jsonbuf_appendf(out, "<text x=\"%d\" y=\"20\" font-size=\"14\" font-weight=\"bold\">", L);
        html_escape(out, p->title);
        APPEND_LIT(out, "</text>\n");
    }
    if (!(xlo <= xhi)) {
        jsonbuf_appendf(out,
                        "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333333\"/>\n"
                        "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#777777\">no data</text>\n</svg>\n",
                        L, T, pw, ph, L + pw / 2, T + ph / 2);
        return;
    }
    const Axis ax = nice_axis(xlo, xhi), ay = nice_axis(ylo, yhi);
#define PX(v) (L + ((v) - ax.lo) / (ax.hi - ax.lo) * pw)
#define PY(v) (T + ph - ((v) - ay.lo) / (ay.hi - ay.lo) * ph)
    char lab[64];
    for (int i = 0;; i++) {
        double v = ay.lo + i * ay.step;
        if (v > ay.hi + ay.step * 1e-6) break;
        svgplot_format_tick(v, ay.step, lab, sizeof lab);
        jsonbuf_appendf(out,
                        "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>"
                        "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                        L, PY(v), L + pw, PY(v), L - 6, PY(v) + 4, lab);
    }
    for (int i = 0;; i++) {
        double v = ax.lo + i * ax.step;
        if (v > ax.hi + ax.step * 1e-6) break;
        svgplot_format_tick(v, ax.step, lab, sizeof lab);
        jsonbuf_appendf(out,
                        "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#f0f0f0\"/>"
                        "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                        PX(v), T, PX(v), T + ph, PX(v), T + ph + 16, lab);
    }
    jsonbuf_appendf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333333\"/>\n", L,
                    T, pw, ph);
    if (p->xlabel) {
        jsonbuf_appendf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", L + pw / 2, H - 8);
        html_escape(out, p->xlabel);
        APPEND_LIT(out, "</text>\n");
    }
    if (p->ylabel) {
        jsonbuf_appendf(out, "<text x=\"14\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 14 %d)\">",
                        T + ph / 2, T + ph / 2);
        html_escape(out, p->ylabel);
        APPEND_LIT(out, "</text>\n");
    }
    int legend_row = 0;
    for (int s = 0; s < n_series; s++) {
        const SvgSeries *sr = &series[s];
        const char *colour = COLOURS[s % N_COLOURS];
        const char *dash = s >= N_COLOURS ? " stroke-dasharray=\"6 3\"" : "";
        /* one polyline per run of finite points */
        int open = 0, finite = 0;
        for (int i = 0; i < sr->n; i++) {
            double x = sr->x[i], y = sr->y[i];
            if (!isfinite(x) || !isfinite(y)) {
                if (open) APPEND_LIT(out, "\"/>\n");
                open = 0;
                continue;
            }
            finite++;
            if (!open)
                jsonbuf_appendf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s points=\"", colour, dash);
            jsonbuf_appendf(out, "%s%.1f,%.1f", open ? " " : "", PX(x), PY(y));
            open = 1;
        }
        if (open) APPEND_LIT(out, "\"/>\n");
        if (p->markers || finite <= 40)
            for (int i = 0; i < sr->n; i++)
                if (isfinite(sr->x[i]) && isfinite(sr->y[i]))
                    jsonbuf_appendf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", PX(sr->x[i]),
                                    PY(sr->y[i]), colour);
        if (sr->name) {
            int ly = T + 10 + 18 * legend_row++;
            jsonbuf_appendf(out,
                            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s/>"
                            "<text x=\"%d\" y=\"%d\">",
                            L + pw + 10, ly, L + pw + 32, ly, colour, dash, L + pw + 38, ly + 4);
            html_escape(out, sr->name);
            APPEND_LIT(out, "</text>\n");
        }
    }
#undef PX
#undef PY
    APPEND_LIT(out, "</svg>\n");
}
