# cartkin from R, notebook style: one patient, then a 2,000-patient virtual trial, with two
# figures drawn by base R graphics.
#
#   R CMD INSTALL r                      # once, from the repository's root (docs/R.md)
#   Rscript docs/r_example.R OUTDIR      # writes OUTDIR/r_patient.png and OUTDIR/r_trial.png
#
# Everything here uses the built-in ELIANA study (model v2), so it runs from any directory.
# Without a PNG device (capabilities("png") FALSE) the figures are PDF files instead.

args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1L) args[[1L]] else "."
dir.create(out, showWarnings = FALSE, recursive = TRUE)
library(cartkin)

figure <- function(name, width = 9, height = 5.5) {
  if (capabilities("png")) {
    file <- file.path(out, paste0(name, ".png"))
    png(file, width = width, height = height, units = "in", res = 110)
  } else {
    file <- file.path(out, paste0(name, ".pdf"))
    message("no PNG device here: writing ", file, " instead")
    pdf(file, width = width, height = height)
  }
  file
}

# ---- 1. One patient ---------------------------------------------------------------------------
# Patient 0 of the built-in study, as `cartkin simulate eliana --patient 0` has it.
p <- simulate_patient("eliana", patient = 0)
e <- p$endpoints
str(e[c("cr_day28", "mrd_neg_day28", "cmax", "tmax", "crs_grade", "crs_onset_day", "relapse_day", "cured")])
print(p$events)

tr <- p$trajectory
car_t <- tr$E + tr$M + tr$P + tr$X                    # C = E + M + P + X (docs/MODEL-v2.md)
blasts <- rowSums(tr[grep("^L_", names(tr))])        # all leukaemic subclones
stopifnot(max(car_t) <= e$cmax * (1 + 1e-12))        # daily rows never exceed the exact peak
stopifnot(max(tr$t) == p$document$horizon_days)

f1 <- figure("r_patient")
floor_cells <- 1                                     # a log axis: values below 1 cell drawn at 1
top <- ceiling(log10(max(car_t, blasts))) + 1
plot(tr$t, pmax(car_t, floor_cells), log = "y", type = "l", lwd = 2, col = "firebrick", yaxt = "n",
     ylim = c(floor_cells, 10^top), xlab = "day after infusion", ylab = "cells",
     main = "ELIANA study, patient 0 (model v2): CAR-T cells and leukaemic blasts")
axis(2, at = 10^seq(0, top, 2), labels = parse(text = paste0("10^", seq(0, top, 2))), las = 1)
lines(tr$t, pmax(blasts, floor_cells), lwd = 2, col = "navy")
points(e$tmax, e$cmax, pch = 19, col = "firebrick")
text(e$tmax, e$cmax, sprintf("  Cmax %.2g cells, day %.1f", e$cmax, e$tmax), adj = c(0, -0.3), cex = 0.85)
ev <- p$events[p$events$kind %in% c("toci_dose", "steroid_start", "extinction"), ]
marks <- data.frame(day = ev$day, label = ifelse(ev$kind == "extinction", paste(ev$phenotype, "extinct"), ev$kind))
if (!is.na(e$relapse_day)) marks <- rbind(marks, data.frame(day = e$relapse_day, label = "relapse"))
abline(v = marks$day, lty = 3, col = "grey40")
left <- seq_len(nrow(marks)) %% 2 == 1                # alternate sides of the lines
text(marks$day[left], floor_cells * 2, marks$label[left], srt = 90, adj = c(0, -0.3), cex = 0.7, col = "grey30")
text(marks$day[!left], floor_cells * 2, marks$label[!left], srt = 90, adj = c(0, 1.2), cex = 0.7, col = "grey30")
legend("topright", c("CAR-T cells (E + M + P + X)", "leukaemic blasts (all subclones)"),
       col = c("firebrick", "navy"), lwd = 2, bty = "n", cex = 0.85)
mtext(sprintf("daily values; CRS grade %d; complete remission at day 28: %s; relapse: %s",
              e$crs_grade, if (isTRUE(as.logical(e$cr_day28))) "yes" else "no",
              if (is.na(e$relapse_day)) "none" else sprintf("day %.0f (%s)", e$relapse_day, e$relapse_phenotype)),
      side = 3, line = 0.3, cex = 0.8)
invisible(dev.off())

# ---- 2. A virtual trial -----------------------------------------------------------------------
# 2,000 patients of the study (its own seed, the study patient's document's `seed`): summary.json and patients.csv as R values.
t0 <- Sys.time()
res <- run_trial("eliana", patients = 2000)
cat(sprintf("trial: %d patients in %.1f s\n", nrow(res$patients), as.double(Sys.time() - t0, units = "secs")))
s <- res$summary
cat(sprintf("complete remission at day 28: %.1f%% (95%% CI %.1f-%.1f%%)\n", 100 * s$cr_rate, 100 * s$cr_rate_ci_low,
            100 * s$cr_rate_ci_high))
cat(sprintf("severe CRS (grade 3-4): %.1f%%, tocilizumab given: %.1f%%\n", 100 * s$crs_severe_rate, 100 * s$toci_rate))

pt <- res$patients[res$patients$status == "ok", ]
grade <- factor(pt$crs_grade, levels = 0:4)
n <- table(grade)
med <- tapply(pt$cmax, grade, median)
print(data.frame(crs_grade = 0:4, patients = as.vector(n), median_cmax = signif(as.vector(med), 3)))

f2 <- figure("r_trial")
boxplot(log10(pt$cmax) ~ grade, col = "mistyrose", border = "firebrick", outline = TRUE, pch = 20, cex = 0.4,
        xlab = "CRS grade", ylab = expression(log[10] ~ "Cmax (CAR-T cells)"),
        names = sprintf("%s\n(n = %d)", levels(grade), as.vector(n)), las = 1, mgp = c(3, 1.6, 0))
title(sprintf("ELIANA study, %s virtual patients: peak CAR-T cells by CRS grade",
              format(nrow(pt), big.mark = ",")))
mtext(sprintf("seed %s; boxes: quartiles and median, whiskers to 1.5 IQR, points beyond", p$document$seed),
      side = 3, line = 0.3, cex = 0.8)
invisible(dev.off())

cat("wrote", f1, "and", f2, "\n")
