//! The flags of a task's command line, read one at a time: a flag, then
//! its value when it takes one. Errors name the flag and end with the
//! task's usage text.

/// A task's arguments, with the usage text its errors end with.
pub(crate) struct Args<'a> {
    rest: std::slice::Iter<'a, String>,
    usage: &'static str,
    /// The flag read last, for messages.
    flag: &'a str,
}

impl<'a> Args<'a> {
    pub(crate) fn new(args: &'a [String], usage: &'static str) -> Args<'a> {
        Args {
            rest: args.iter(),
            usage,
            flag: "",
        }
    }

    /// The next flag; `None` after the last.
    pub(crate) fn flag(&mut self) -> Option<&'a str> {
        self.flag = self.rest.next()?;
        Some(self.flag)
    }

    /// The value after the flag just read.
    pub(crate) fn value(&mut self) -> Result<String, String> {
        self.rest
            .next()
            .cloned()
            .ok_or_else(|| format!("{} needs a value\n\n{}", self.flag, self.usage))
    }

    /// The value after the flag just read, as a whole number.
    pub(crate) fn number(&mut self) -> Result<u64, String> {
        let v = self.value()?;
        v.parse::<u64>()
            .map_err(|e| format!("{} {v}: not a whole number ({e})", self.flag))
    }

    /// The error for the flag just read when the task has no such flag.
    pub(crate) fn unknown(&self) -> String {
        format!("unknown option `{}`\n\n{}", self.flag, self.usage)
    }

    /// The error for a value of the flag just read that the task refuses.
    pub(crate) fn refuse(&self, what: &str) -> String {
        format!("{} {what}\n\n{}", self.flag, self.usage)
    }
}

#[cfg(test)]
mod tests {
    use super::Args;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_flags_values_and_numbers() {
        let argv = strings(&["--quick", "--seconds", "30", "--name", "x", "--n"]);
        let mut args = Args::new(&argv, "USAGE");
        assert_eq!(args.flag(), Some("--quick"));
        assert_eq!(args.flag(), Some("--seconds"));
        assert_eq!(args.number(), Ok(30));
        assert_eq!(args.flag(), Some("--name"));
        assert_eq!(args.value().as_deref(), Ok("x"));
        assert_eq!(args.flag(), Some("--n"));
        assert_eq!(args.value(), Err("--n needs a value\n\nUSAGE".to_string()));
        assert_eq!(args.flag(), None);
    }

    #[test]
    fn errors_name_the_flag() {
        let argv = strings(&["--seconds", "soon", "--what"]);
        let mut args = Args::new(&argv, "USAGE");
        args.flag();
        let e = args.number().unwrap_err();
        assert!(e.starts_with("--seconds soon: not a whole number"), "{e}");
        args.flag();
        assert_eq!(args.unknown(), "unknown option `--what`\n\nUSAGE");
        assert_eq!(args.refuse("is wrong"), "--what is wrong\n\nUSAGE");
    }
}
