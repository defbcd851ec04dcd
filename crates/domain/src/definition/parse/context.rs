//! `[[contexts]]`: context classes, each naming the categories it takes in and outside a
//! domestic context. Optional (vawg-v1 has none).

use std::collections::HashMap;
use std::ops::Range;

use super::{RawContext, RawList};
use crate::datafile::{Ctx, Leaf};
use crate::definition::{Context, DefinitionError};

impl Ctx<'_> {
    /// The context classes and their index (id → position), checked against the categories.
    pub(super) fn contexts(
        &self,
        raw: RawList<RawContext>,
        categories: &HashMap<String, usize>,
    ) -> Result<(Vec<Context>, HashMap<String, usize>), DefinitionError> {
        let raw = raw.map(|r| r.into_inner()).unwrap_or_default();
        let mut contexts = Vec::with_capacity(raw.len());
        let mut index = HashMap::new();
        // id → line of first definition
        let mut id_lines: HashMap<String, usize> = HashMap::new();
        for (i, item) in raw.into_iter().enumerate() {
            let table = item.span();
            let c = item.into_inner();
            let path = |f: &str| format!("contexts[{i}].{f}");
            let (id, id_span) =
                self.unique_id(&c.id, &table, &path("id"), "context", &mut id_lines)?;
            if categories.contains_key(&id) {
                return Err(self.err(
                    id_span.start,
                    &path("id"),
                    format!(
                        "`{id}` is already the id of a category; a context class needs an id of \
                         its own, so a code's `category` and `context` can never be confused"
                    ),
                ));
            }
            let (name, _) = self.string(&c.name, &table, &path("name"))?;
            let domestic_category = self.context_category(
                &c.domestic_category,
                &table,
                &path("domestic_category"),
                categories,
            )?;
            let non_domestic_category = match &c.non_domestic_category {
                None => None,
                Some(v) => {
                    let field = path("non_domestic_category");
                    let id = self.context_category(
                        &c.non_domestic_category,
                        &table,
                        &field,
                        categories,
                    )?;
                    if id == domestic_category {
                        return Err(self.err(
                            v.span().start,
                            &field,
                            format!(
                                "`{id}` is also the domestic_category: a class with the same \
                                 category in every context is not a context class; map its codes \
                                 to `category = \"{id}\"` instead"
                            ),
                        ));
                    }
                    Some(id)
                }
            };
            let (source, _) = self.string(&c.source, &table, &path("source"))?;
            let (description, _) = self.string(&c.description, &table, &path("description"))?;
            index.insert(id.clone(), contexts.len());
            contexts.push(Context {
                id,
                name,
                domestic_category,
                non_domestic_category,
                source,
                description,
            });
        }
        Ok((contexts, index))
    }

    /// A context class's category: a string naming one of the `[[categories]]`.
    fn context_category(
        &self,
        leaf: &Leaf,
        table: &Range<usize>,
        field: &str,
        categories: &HashMap<String, usize>,
    ) -> Result<String, DefinitionError> {
        let (id, span) = self.string(leaf, table, field)?;
        if !categories.contains_key(&id) {
            return Err(self.err(
                span.start,
                field,
                format!("unknown category `{id}`; it must be the id of one of the [[categories]]"),
            ));
        }
        Ok(id)
    }
}
