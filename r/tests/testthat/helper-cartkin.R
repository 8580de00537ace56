# Helpers of the cartkin tests (testthat loads helper-*.R before the tests).
#
# The tests read the repository's files (studies/, tests/data/): the repository's root is
# $CARTKIN_REPO if set, else three levels above this directory (r/tests/testthat). The
# command line's binary is $CARTKIN_BIN (`cargo build --release -p cartkin-cli`); the tests
# that compare with it are skipped without it.

repo_root <- function() {
  root <- Sys.getenv("CARTKIN_REPO")
  if (!nzchar(root)) root <- file.path(getwd(), "..", "..", "..")
  root <- normalizePath(root, mustWork = FALSE)
  if (!file.exists(file.path(root, "studies", "eliana.toml"))) {
    testthat::skip(paste("no cartkin repository at", root, "(set CARTKIN_REPO)"))
  }
  root
}

repo_file <- function(...) file.path(repo_root(), ...)

cli_bin <- function() {
  bin <- Sys.getenv("CARTKIN_BIN")
  if (!nzchar(bin) || !file.exists(bin)) {
    testthat::skip("CARTKIN_BIN is not set to the cartkin binary (cargo build --release -p cartkin-cli)")
  }
  bin
}

# Run the command line; stop unless it exits with `status`. Returns its stderr lines.
run_cli <- function(args, status = 0L) {
  err <- tempfile()
  out <- suppressWarnings(system2(cli_bin(), shQuote(args), stdout = TRUE, stderr = err))
  code <- attr(out, "status")
  code <- if (is.null(code)) 0L else code
  lines <- readLines(err, warn = FALSE)
  if (code != status) stop(sprintf("cartkin %s: exit %d (expected %d): %s", paste(args, collapse = " "), code, status, paste(lines, collapse = "\n")))
  lines
}

# ---- exact decimal comparison ---------------------------------------------------------------
#
# R's own decimal parser (R_strtod: read.csv, as.numeric, the R parser) is not correctly
# rounded: it accumulates in long double and rounds twice, so about one 17-digit number in
# 10^4 comes out one unit in the last place (ulp) off the double nearest to the decimal
# (e.g. "7.777368886412797"). The package's values are parsed by Rust (correctly rounded),
# so they can differ from read.csv's in those cells. `same_double(s, v)` accepts v for the
# decimal text s when v is identical to R's parse of s, or when R's parse is the adjacent
# double and v is proven the nearer of the two to s, by exact decimal arithmetic on the
# printed expansions (glibc's printf is exact) of both.

dec_parts <- function(s) {
  m <- regmatches(s, regexec("^[-+]?([0-9]*)\\.?([0-9]*)(?:[eE]([-+]?[0-9]+))?$", s, perl = TRUE))[[1L]]
  if (!length(m)) stop("not a decimal number: ", s)
  e <- if (nzchar(m[4L])) as.integer(m[4L]) else 0L
  list(d = as.integer(strsplit(paste0(m[2L], m[3L]), "")[[1L]]), e = e - nchar(m[3L]))
}

align <- function(p, e) c(p$d, integer(p$e - e))

pad <- function(a, n) c(integer(n - length(a)), a)

big_add <- function(a, b) {
  n <- max(length(a), length(b))
  a <- pad(a, n)
  b <- pad(b, n)
  out <- integer(n + 1L)
  carry <- 0L
  for (i in n:1L) {
    x <- a[i] + b[i] + carry
    out[i + 1L] <- x %% 10L
    carry <- x %/% 10L
  }
  out[1L] <- carry
  out
}

big_cmp <- function(a, b) {
  n <- max(length(a), length(b))
  a <- pad(a, n)
  b <- pad(b, n)
  i <- which(a != b)
  if (!length(i)) 0L else as.integer(sign(a[i[1L]] - b[i[1L]]))
}

# TRUE when the double v (not its neighbour r) is the nearer to the decimal text s.
nearer <- function(s, v, r) {
  ps <- dec_parts(s)
  pv <- dec_parts(sprintf("%.60e", abs(v)))
  pr <- dec_parts(sprintf("%.60e", abs(r)))
  e <- min(ps$e, pv$e, pr$e)
  c <- big_cmp(big_add(align(ps, e), align(ps, e)), big_add(align(pv, e), align(pr, e)))
  if (abs(v) > abs(r)) c > 0L else c < 0L
}

same_double <- function(s, v) {
  r <- as.numeric(s)
  if (identical(v, r)) return(TRUE)
  adjacent <- is.finite(v) && is.finite(r) && sign(v) == sign(r) && abs(v - r) <= abs(v) * 2^-52
  adjacent && nearer(s, v, r)
}

# Cells of one column where `values` (the package's) differ from read.csv's `parsed`; each
# must pass same_double against the file's text. Returns how many such cells there were.
expect_column_equal <- function(name, values, parsed, text) {
  if (identical(values, parsed)) return(0L)
  testthat::expect_identical(is.na(values), is.na(parsed), info = name)
  bad <- which(!is.na(values) & values != parsed)
  ok <- vapply(bad, function(i) same_double(text[i], values[i]), TRUE)
  testthat::expect_true(all(ok), info = sprintf(
    "%s: rows %s differ from read.csv (%s vs %s)", name, paste(bad[!ok], collapse = ", "),
    paste(format(values[bad[!ok]], digits = 17), collapse = ", "), paste(format(parsed[bad[!ok]], digits = 17), collapse = ", ")
  ))
  length(bad)
}
