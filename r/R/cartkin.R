# The cartkin R package: one patient (simulate_patient), a virtual trial (run_trial) and the
# built-in models (models), through the Rust library's plain-data layer (cartkin::bind, in
# src/rust). The Rust functions return plain R values, or list(error = KIND, message = MSG),
# which cartkin_stop() raises as a classed condition (see ?cartkin_errors).

# ---- conditions ---------------------------------------------------------------------------

cartkin_condition <- function(kind, message, call = NULL) {
  class <- switch(kind,
    input = c("cartkin_input_error", "cartkin_error", "error", "condition"),
    interrupted = c("cartkin_interrupted", "interrupt", "condition"),
    c("cartkin_run_error", "cartkin_error", "error", "condition")
  )
  structure(class = class, list(message = message, call = call))
}

cartkin_stop <- function(kind, message, call = NULL) {
  stop(cartkin_condition(kind, message, call))
}

# A Rust function's value, or its failure raised as a condition.
unwrap <- function(res, call) {
  if (is.list(res) && identical(names(res), c("error", "message"))) {
    cartkin_stop(res$error, res$message, call)
  }
  res
}

# ---- argument checks (each raises a cartkin_input_error) ----------------------------------

check_source <- function(x, call) {
  if (!is.character(x) || length(x) != 1L || is.na(x)) {
    cartkin_stop("input", "x: give one string (a file's path, a built-in study's name, or a JSON/TOML text)", call)
  }
  x <- enc2utf8(x)
  # a path with ~ (a text holds a newline, a brace or `=`, and is passed as it is)
  if (!grepl("[\n{=]", x) && startsWith(x, "~")) x <- path.expand(x)
  x
}

# NULL, or one whole number in [lo, 2^53] (as a double; the library takes 64-bit integers).
check_whole <- function(v, what, call, lo = 0) {
  if (is.null(v)) return(NULL)
  ok <- is.numeric(v) && length(v) == 1L && !is.na(v) && is.finite(v) && v == floor(v) &&
    v >= lo && v <= 2^53
  if (!ok) {
    shown <- if (is.atomic(v) && length(v) == 1L) format(v) else paste0("a ", class(v)[1], " of length ", length(v))
    cartkin_stop("input", sprintf("%s %s: must be a whole number between %s and 2^53", what, shown, format(lo)), call)
  }
  as.double(v)
}

check_rtol <- function(rtol, call) {
  if (is.null(rtol)) return(NULL)
  if (!is.numeric(rtol) || length(rtol) != 1L || is.na(rtol)) {
    cartkin_stop("input", "rtol: must be one number (a relative tolerance, e.g. 1e-9)", call)
  }
  as.double(rtol)
}

# ---- tables -------------------------------------------------------------------------------

cartkin_column_names <- function(x) {
  # a sign after an antigen's name: + -> pos, - -> neg, and `_` before the next antigen
  x <- gsub("(?<=[A-Za-z0-9])([+-])(?=[A-Za-z0-9])", "\\1_", x, perl = TRUE)
  x <- gsub("(?<=[A-Za-z0-9])\\+", "pos", x, perl = TRUE)
  gsub("(?<=[A-Za-z0-9])-", "neg", x, perl = TRUE)
}

# A named list of equally long columns as a data frame (names mapped by cartkin_column_names).
as_frame <- function(cols) {
  n <- if (length(cols)) length(cols[[1L]]) else 0L
  names(cols) <- cartkin_column_names(names(cols))
  structure(cols, class = "data.frame", row.names = .set_row_names(n))
}

# The event log (a list of objects) as a data frame: day, kind, then every other key in the
# order first met (NA where an event has no such key).
events_frame <- function(ev) {
  if (!length(ev)) {
    return(as_frame(list(day = numeric(0), kind = character(0))))
  }
  keys <- unique(unlist(lapply(ev, names), use.names = FALSE))
  keys <- c("t", "kind", setdiff(keys, c("t", "kind")))
  cols <- lapply(keys, function(k) {
    unlist(lapply(ev, function(e) {
      v <- e[[k]]
      if (is.null(v) || length(v) != 1L) NA else v
    }), use.names = FALSE)
  })
  names(cols) <- c("day", keys[-1L])
  as_frame(cols)
}

# ---- the API --------------------------------------------------------------------------------

simulate_patient <- function(x, patient = 0, rtol = NULL) {
  call <- sys.call()
  x <- check_source(x, call)
  patient <- check_whole(patient, "patient", call)
  rtol <- check_rtol(rtol, call)
  res <- unwrap(.Call(wrap__rs_simulate, x, patient, rtol), call)
  doc <- res$document
  endpoints <- doc$endpoints
  names(endpoints) <- cartkin_column_names(names(endpoints))
  list(
    endpoints = endpoints,
    events = events_frame(doc$events),
    trajectory = as_frame(res$trajectory),
    document = doc
  )
}

run_trial <- function(x, patients = NULL, seed = NULL, threads = NULL, rtol = NULL) {
  call <- sys.call()
  x <- check_source(x, call)
  patients <- check_whole(patients, "patients", call, lo = 1)
  seed <- check_whole(seed, "seed", call)
  threads <- check_whole(threads, "threads", call, lo = 1)
  rtol <- check_rtol(rtol, call)
  res <- unwrap(.Call(wrap__rs_run_trial, x, patients, seed, threads, rtol), call)
  list(summary = res$summary, patients = as_frame(res$patients))
}

models <- function() {
  as_frame(.Call(wrap__rs_models))
}

read_cartkin_json <- function(file) {
  rs_json_value(paste(readLines(file, warn = FALSE, encoding = "UTF-8"), collapse = "\n"), sys.call())
}

# A JSON text as R values (the conversion of the documents).
rs_json_value <- function(text, call = sys.call()) {
  unwrap(.Call(wrap__rs_json, enc2utf8(text)), call)$value
}

read_cartkin_csv <- function(file) {
  text <- paste(readLines(file, warn = FALSE, encoding = "UTF-8"), collapse = "\n")
  as_frame(unwrap(.Call(wrap__rs_csv, enc2utf8(text)), sys.call())$value)
}
