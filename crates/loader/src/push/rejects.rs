//! The rejects file: every row that could not be stored, with the stage and the reasons.

use std::{
    fs::{File, OpenOptions},
    path::Path,
};

use anyhow::Context;

/// The rejects file: CSV `row,line,source_record_id,stage,reasons`.
pub(super) struct Rejects {
    writer: csv::Writer<File>,
}

impl Rejects {
    /// Opens the file: a new one with its header, or the one a resumed run continues, cut
    /// back to `resume_at` bytes.
    pub(super) fn open(path: &Path, resume_at: Option<u64>) -> anyhow::Result<Rejects> {
        let fresh = resume_at.is_none();
        let file = match resume_at {
            Some(len) => {
                let f = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?;
                // Drop anything written after the last saved state: those rows are redone.
                f.set_len(len)?;
                let mut f = f;
                std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0))?;
                f
            }
            None => File::create(path).with_context(|| format!("creating {}", path.display()))?,
        };
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        if fresh {
            writer.write_record(["row", "line", "source_record_id", "stage", "reasons"])?;
        }
        Ok(Rejects { writer })
    }

    /// One rejected row.
    pub(super) fn write(
        &mut self,
        row: u64,
        line: u64,
        id: &str,
        stage: &str,
        reasons: &str,
    ) -> anyhow::Result<()> {
        self.writer.write_record([
            row.to_string().as_str(),
            &line.to_string(),
            id,
            stage,
            reasons,
        ])?;
        Ok(())
    }

    /// Flushes and returns the file's length.
    pub(super) fn flush(&mut self) -> anyhow::Result<u64> {
        self.writer.flush()?;
        Ok(self.writer.get_ref().metadata()?.len())
    }
}
