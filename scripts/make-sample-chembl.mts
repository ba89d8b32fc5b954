/**
 * Writes data/raw/chembl/chembl_sample.db: a small SQLite database in the real ChEMBL schema
 * (chembl_33 column names and types) for eleven well-known drugs, so the ingest quick test has
 * ChEMBL input without a 22 GB download.
 *
 *   npx tsx scripts/make-sample-chembl.mts [out.db]
 *
 * Where the values come from (also in the `version` table's comments, and data/raw/chembl/README.md):
 * - ChEMBL ids, names, max phase and first approval years: public ChEMBL/FDA facts. Aspirin keeps its
 *   real molregno (1280); the other molregno/tid/mec_id/assay keys are sample keys, not ChEMBL's.
 * - compound_properties: computed with RDKit 2026.09 (MolWt, Crippen logP, NumHBA/HBD, TPSA, QED)
 *   from each drug's canonical SMILES, the same RDKit descriptors ChEMBL uses since release 26;
 *   expect last-digit differences from a real release.
 * - mechanisms and indications: textbook pharmacology with real target ChEMBL ids and MeSH ids.
 * - activities: approximate literature potencies, rounded; the docs rows carry no PMIDs because
 *   these are not extracted from a specific ChEMBL document.
 * This is sample data in ChEMBL's format, not a ChEMBL release; the reader cites it as
 * "medtune-sample" (from the `version` table), never as chembl_NN.
 */
import { mkdirSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.resolve(process.argv[2] ?? path.join(root, "data/raw/chembl/chembl_sample.db"));

// DDL follows chembl_33 (types and CHECK constraints as in the real dump), trimmed to the columns
// and tables the sample fills.
const DDL = `
CREATE TABLE version (name VARCHAR(50) NOT NULL, creation_date DATE, comments VARCHAR(2000), CONSTRAINT pk_version_name PRIMARY KEY (name));
CREATE TABLE molecule_dictionary (
  molregno BIGINT NOT NULL, pref_name VARCHAR(255), chembl_id VARCHAR(20) NOT NULL, max_phase NUMERIC(2, 1),
  therapeutic_flag SMALLINT NOT NULL, dosed_ingredient SMALLINT NOT NULL, structure_type VARCHAR(10) NOT NULL,
  chebi_par_id BIGINT, molecule_type VARCHAR(30), first_approval INTEGER, oral SMALLINT NOT NULL,
  parenteral SMALLINT NOT NULL, topical SMALLINT NOT NULL, black_box_warning SMALLINT NOT NULL,
  first_in_class SMALLINT NOT NULL, chirality SMALLINT NOT NULL, prodrug SMALLINT NOT NULL,
  inorganic_flag SMALLINT NOT NULL, usan_year INTEGER, availability_type SMALLINT, usan_stem VARCHAR(50),
  polymer_flag SMALLINT, usan_substem VARCHAR(50), usan_stem_definition VARCHAR(1000), indication_class VARCHAR(1000),
  withdrawn_flag SMALLINT NOT NULL, chemical_probe SMALLINT NOT NULL, natural_product SMALLINT,
  CONSTRAINT pk_moldict_molregno PRIMARY KEY (molregno), CONSTRAINT uk_moldict_chemblid UNIQUE (chembl_id),
  CONSTRAINT ck_moldict_app CHECK (first_approval < 2050 and first_approval > 1900),
  CONSTRAINT ck_moldict_strtype CHECK (structure_type in ('NONE','MOL','SEQ','BOTH'))
);
CREATE TABLE compound_properties (
  molregno BIGINT NOT NULL, mw_freebase NUMERIC(9, 2), alogp NUMERIC(9, 2), hba INTEGER, hbd INTEGER,
  psa NUMERIC(9, 2), rtb INTEGER, ro3_pass VARCHAR(3), num_ro5_violations SMALLINT, cx_most_apka NUMERIC(9, 2),
  cx_most_bpka NUMERIC(9, 2), cx_logp NUMERIC(9, 2), cx_logd NUMERIC(9, 2), molecular_species VARCHAR(50),
  full_mwt NUMERIC(9, 2), aromatic_rings INTEGER, heavy_atoms INTEGER, qed_weighted NUMERIC(3, 2),
  mw_monoisotopic NUMERIC(11, 4), full_molformula VARCHAR(100), hba_lipinski INTEGER, hbd_lipinski INTEGER,
  num_lipinski_ro5_violations SMALLINT, np_likeness_score NUMERIC(3, 2),
  CONSTRAINT pk_cmpdprop_molregno PRIMARY KEY (molregno),
  CONSTRAINT fk_cmpdprop_molregno FOREIGN KEY(molregno) REFERENCES molecule_dictionary (molregno) ON DELETE CASCADE,
  CONSTRAINT ck_cmpdprop_ro3 CHECK (ro3_pass in ('Y','N')),
  CONSTRAINT ck_cmpdprop_ro5 CHECK (num_ro5_violations in (0,1,2,3,4)),
  CONSTRAINT ck_cmpdprop_qed CHECK (qed_weighted >= 0)
);
CREATE TABLE target_dictionary (
  tid BIGINT NOT NULL, target_type VARCHAR(30), pref_name VARCHAR(200) NOT NULL, tax_id BIGINT, organism VARCHAR(150),
  chembl_id VARCHAR(20) NOT NULL, species_group_flag SMALLINT NOT NULL,
  CONSTRAINT pk_targdict_tid PRIMARY KEY (tid), CONSTRAINT uk_targdict_chemblid UNIQUE (chembl_id)
);
CREATE TABLE action_type (action_type VARCHAR(50) NOT NULL, description VARCHAR(200) NOT NULL, parent_type VARCHAR(50), CONSTRAINT action_type_pk PRIMARY KEY (action_type));
CREATE TABLE drug_mechanism (
  mec_id BIGINT NOT NULL, record_id BIGINT NOT NULL, molregno BIGINT, mechanism_of_action VARCHAR(250), tid BIGINT,
  site_id BIGINT, action_type VARCHAR(50), direct_interaction SMALLINT, molecular_mechanism SMALLINT,
  disease_efficacy SMALLINT, mechanism_comment VARCHAR(2000), selectivity_comment VARCHAR(1000),
  binding_site_comment VARCHAR(1000), variant_id BIGINT,
  CONSTRAINT molecular_mechanism_pk PRIMARY KEY (mec_id),
  CONSTRAINT fk_drugmec_molregno FOREIGN KEY(molregno) REFERENCES molecule_dictionary (molregno) ON DELETE CASCADE,
  CONSTRAINT fk_drugmec_tid FOREIGN KEY(tid) REFERENCES target_dictionary (tid) ON DELETE CASCADE,
  CONSTRAINT fk_drugmec_actiontype FOREIGN KEY(action_type) REFERENCES action_type (action_type)
);
CREATE TABLE mechanism_refs (
  mecref_id BIGINT NOT NULL, mec_id BIGINT NOT NULL, ref_type VARCHAR(50) NOT NULL, ref_id VARCHAR(200), ref_url VARCHAR(400),
  CONSTRAINT pk_mechanism_refs PRIMARY KEY (mecref_id),
  CONSTRAINT fk_mechanism_refs_mecid FOREIGN KEY(mec_id) REFERENCES drug_mechanism (mec_id) ON DELETE CASCADE
);
CREATE TABLE drug_indication (
  drugind_id BIGINT NOT NULL, record_id BIGINT NOT NULL, molregno BIGINT, max_phase_for_ind NUMERIC(2, 1),
  mesh_id VARCHAR(20) NOT NULL, mesh_heading VARCHAR(200) NOT NULL, efo_id VARCHAR(20), efo_term VARCHAR(200),
  CONSTRAINT drugind_pk PRIMARY KEY (drugind_id),
  CONSTRAINT drugind_molregno_fk FOREIGN KEY(molregno) REFERENCES molecule_dictionary (molregno) ON DELETE CASCADE,
  CONSTRAINT drugind_uk UNIQUE (record_id, mesh_id, efo_id)
);
CREATE TABLE indication_refs (
  indref_id BIGINT NOT NULL, drugind_id BIGINT NOT NULL, ref_type VARCHAR(50) NOT NULL, ref_id VARCHAR(4000) NOT NULL, ref_url VARCHAR(4000) NOT NULL,
  CONSTRAINT indication_refs_pk PRIMARY KEY (indref_id),
  CONSTRAINT indref_drugind_fk FOREIGN KEY(drugind_id) REFERENCES drug_indication (drugind_id) ON DELETE CASCADE
);
CREATE TABLE docs (
  doc_id BIGINT NOT NULL, journal VARCHAR(50), year INTEGER, volume VARCHAR(50), issue VARCHAR(50),
  first_page VARCHAR(50), last_page VARCHAR(50), pubmed_id BIGINT, doi VARCHAR(100), chembl_id VARCHAR(20) NOT NULL,
  title VARCHAR(500), doc_type VARCHAR(50) NOT NULL, authors VARCHAR(4000), abstract TEXT, patent_id VARCHAR(20),
  ridx VARCHAR(200) NOT NULL, src_id INTEGER NOT NULL, chembl_release_id INTEGER, contact VARCHAR(200),
  CONSTRAINT pk_docs_doc_id PRIMARY KEY (doc_id), CONSTRAINT uk_docs_chemblid UNIQUE (chembl_id)
);
CREATE TABLE assays (
  assay_id BIGINT NOT NULL, doc_id BIGINT NOT NULL, description VARCHAR(4000), assay_type VARCHAR(1),
  assay_test_type VARCHAR(20), assay_category VARCHAR(50), assay_organism VARCHAR(250), assay_tax_id BIGINT,
  assay_strain VARCHAR(200), assay_tissue VARCHAR(100), assay_cell_type VARCHAR(100), assay_subcellular_fraction VARCHAR(100),
  tid BIGINT, relationship_type VARCHAR(1), confidence_score SMALLINT, curated_by VARCHAR(32), src_id INTEGER NOT NULL,
  src_assay_id VARCHAR(50), chembl_id VARCHAR(20) NOT NULL, cell_id BIGINT, bao_format VARCHAR(11), tissue_id BIGINT,
  variant_id BIGINT, aidx VARCHAR(200) NOT NULL,
  CONSTRAINT pk_assays_assay_id PRIMARY KEY (assay_id), CONSTRAINT uk_assays_chemblid UNIQUE (chembl_id),
  CONSTRAINT fk_assays_doc_id FOREIGN KEY(doc_id) REFERENCES docs (doc_id) ON DELETE CASCADE,
  CONSTRAINT fk_assays_tid FOREIGN KEY(tid) REFERENCES target_dictionary (tid) ON DELETE CASCADE,
  CONSTRAINT ck_assays_assaytype CHECK (assay_type in ('B','F','A','P','T','U')),
  CONSTRAINT ck_assays_confscore CHECK (confidence_score in (0,1,2,3,4,5,6,7,8,9))
);
CREATE TABLE activities (
  activity_id BIGINT NOT NULL, assay_id BIGINT NOT NULL, doc_id BIGINT, record_id BIGINT NOT NULL, molregno BIGINT,
  standard_relation VARCHAR(50), standard_value NUMERIC, standard_units VARCHAR(100), standard_flag SMALLINT,
  standard_type VARCHAR(250), activity_comment VARCHAR(4000), data_validity_comment VARCHAR(30),
  potential_duplicate SMALLINT, pchembl_value NUMERIC(4, 2), bao_endpoint VARCHAR(11), uo_units VARCHAR(10),
  qudt_units VARCHAR(70), toid INTEGER, upper_value NUMERIC, standard_upper_value NUMERIC, src_id INTEGER,
  type VARCHAR(250) NOT NULL, relation VARCHAR(50), value NUMERIC, units VARCHAR(100), text_value VARCHAR(1000),
  standard_text_value VARCHAR(1000), action_type VARCHAR(50),
  CONSTRAINT pk_act_activity_id PRIMARY KEY (activity_id),
  CONSTRAINT fk_act_assay_id FOREIGN KEY(assay_id) REFERENCES assays (assay_id) ON DELETE CASCADE,
  CONSTRAINT fk_act_molregno FOREIGN KEY(molregno) REFERENCES molecule_dictionary (molregno) ON DELETE CASCADE,
  CONSTRAINT ck_stand_relation CHECK (standard_relation in ('>','<','=','~','<=','>=','<<','>>')),
  CONSTRAINT ck_potential_dup CHECK (potential_duplicate in (0,1))
);
CREATE INDEX idx_act_mol ON activities (molregno);
CREATE INDEX idx_drugind_mol ON drug_indication (molregno);
CREATE INDEX idx_mecrefs_mec ON mechanism_refs (mec_id);
CREATE INDEX idx_indrefs_ind ON indication_refs (drugind_id);
`;

// [molregno, chembl_id, pref_name, max_phase, first_approval, oral, parenteral, topical]
const MOLECULES: [number, string, string, number, number | null, number, number, number][] = [
  [1280, "CHEMBL25", "ASPIRIN", 4, 1950, 1, 0, 0],
  [2001, "CHEMBL521", "IBUPROFEN", 4, 1974, 1, 1, 0],
  [2002, "CHEMBL1431", "METFORMIN", 4, 1995, 1, 0, 0],
  [2003, "CHEMBL941", "IMATINIB", 4, 2001, 1, 0, 0],
  [2004, "CHEMBL1487", "ATORVASTATIN", 4, 1996, 1, 0, 0],
  [2005, "CHEMBL112", "ACETAMINOPHEN", 4, null, 1, 1, 0],
  [2006, "CHEMBL113", "CAFFEINE", 4, null, 1, 1, 0],
  [2007, "CHEMBL1464", "WARFARIN", 4, 1954, 1, 1, 0],
  [2008, "CHEMBL192", "SILDENAFIL", 4, 1998, 1, 1, 0],
  [2009, "CHEMBL1503", "OMEPRAZOLE", 4, 1989, 1, 1, 0],
  [2010, "CHEMBL939", "GEFITINIB", 4, 2003, 1, 0, 0],
];

// RDKit 2026.09 on canonical SMILES (see header). Columns:
// mw, alogp, hba, hbd, psa, rtb, ro5, qed, aromatic rings, heavy atoms, formula, monoisotopic mass
type Props = [
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  string,
  number,
];
const PROPERTIES: Record<string, Props> = {
  CHEMBL25: [180.16, 1.31, 3, 1, 63.6, 2, 0, 0.55, 1, 13, "C9H8O4", 180.0423],
  CHEMBL521: [206.28, 3.07, 1, 1, 37.3, 4, 0, 0.82, 1, 15, "C13H18O2", 206.1307],
  CHEMBL1431: [129.17, -1.03, 2, 4, 88.99, 0, 0, 0.25, 0, 9, "C4H11N5", 129.1014],
  CHEMBL941: [493.62, 4.59, 7, 2, 86.28, 7, 0, 0.39, 4, 37, "C29H31N7O", 493.259],
  CHEMBL1487: [558.65, 6.31, 4, 4, 111.79, 12, 2, 0.16, 4, 41, "C33H35FN2O5", 558.253],
  CHEMBL112: [151.16, 1.35, 2, 2, 49.33, 1, 0, 0.6, 1, 11, "C8H9NO2", 151.0633],
  CHEMBL113: [194.19, -1.03, 3, 0, 61.82, 0, 0, 0.54, 2, 14, "C8H10N4O2", 194.0804],
  CHEMBL1464: [308.33, 3.61, 4, 1, 67.51, 4, 0, 0.75, 3, 23, "C19H16O4", 308.1049],
  CHEMBL192: [474.59, 1.61, 7, 1, 113.42, 7, 0, 0.55, 3, 33, "C22H30N6O4S", 474.2049],
  CHEMBL1503: [345.42, 2.9, 5, 1, 77.1, 5, 0, 0.77, 3, 24, "C17H19N3O3S", 345.1147],
  CHEMBL939: [446.91, 4.28, 7, 1, 68.74, 8, 0, 0.52, 3, 31, "C22H24ClFN4O3", 446.1521],
};

// [tid, chembl_id, pref_name, target_type]; all Homo sapiens (tax 9606).
const TARGETS: [number, string, string, string][] = [
  [101, "CHEMBL2094253", "Cyclooxygenase", "PROTEIN FAMILY"],
  [102, "CHEMBL1862", "Tyrosine-protein kinase ABL1", "SINGLE PROTEIN"],
  [103, "CHEMBL1936", "Stem cell growth factor receptor", "SINGLE PROTEIN"],
  [104, "CHEMBL203", "Epidermal growth factor receptor erbB1", "SINGLE PROTEIN"],
  [105, "CHEMBL402", "HMG-CoA reductase", "SINGLE PROTEIN"],
  [106, "CHEMBL1827", "Phosphodiesterase 5A", "SINGLE PROTEIN"],
  [107, "CHEMBL221", "Cyclooxygenase-1", "SINGLE PROTEIN"],
  [108, "CHEMBL230", "Cyclooxygenase-2", "SINGLE PROTEIN"],
  [109, "CHEMBL251", "Adenosine receptor A2a", "SINGLE PROTEIN"],
  [110, "CHEMBL226", "Adenosine receptor A1", "SINGLE PROTEIN"],
];

// [mec_id, chembl_id, mechanism_of_action, tid, action_type]
const MECHANISMS: [number, string, string, number, string][] = [
  [1, "CHEMBL25", "Cyclooxygenase inhibitor", 101, "INHIBITOR"],
  [2, "CHEMBL521", "Cyclooxygenase inhibitor", 101, "INHIBITOR"],
  [3, "CHEMBL941", "Tyrosine-protein kinase ABL1 inhibitor", 102, "INHIBITOR"],
  [4, "CHEMBL941", "Stem cell growth factor receptor inhibitor", 103, "INHIBITOR"],
  [5, "CHEMBL939", "Epidermal growth factor receptor erbB1 inhibitor", 104, "INHIBITOR"],
  [6, "CHEMBL1487", "HMG-CoA reductase inhibitor", 105, "INHIBITOR"],
  [7, "CHEMBL192", "Phosphodiesterase 5A inhibitor", 106, "INHIBITOR"],
  [8, "CHEMBL113", "Adenosine receptor A1 antagonist", 110, "ANTAGONIST"],
  [9, "CHEMBL113", "Adenosine receptor A2a antagonist", 109, "ANTAGONIST"],
];
// [mec_id, ref_type, ref_id]: Druker et al., NEJM 2001 (imatinib in CML).
const MECHANISM_REFS: [number, string, string][] = [[3, "PubMed", "11287972"]];

// [chembl_id, mesh_id, mesh_heading, max_phase_for_ind, efo_id]
const INDICATIONS: [string, string, string, number, string | null][] = [
  ["CHEMBL25", "D005334", "Fever", 4, "HP:0001945"],
  ["CHEMBL25", "D010146", "Pain", 4, "EFO:0003843"],
  ["CHEMBL25", "D009203", "Myocardial Infarction", 4, "EFO:0000612"],
  ["CHEMBL25", "D020521", "Stroke", 4, "EFO:0000712"],
  ["CHEMBL25", "D001281", "Atrial Fibrillation", 3, "EFO:0000275"],
  ["CHEMBL521", "D010146", "Pain", 4, "EFO:0003843"],
  ["CHEMBL521", "D005334", "Fever", 4, "HP:0001945"],
  ["CHEMBL521", "D001172", "Arthritis, Rheumatoid", 4, null],
  ["CHEMBL521", "D010003", "Osteoarthritis", 4, null],
  ["CHEMBL1431", "D003924", "Diabetes Mellitus, Type 2", 4, null],
  ["CHEMBL941", "D015464", "Leukemia, Myelogenous, Chronic, BCR-ABL Positive", 4, null],
  ["CHEMBL941", "D046152", "Gastrointestinal Stromal Tumors", 4, null],
  ["CHEMBL941", "D006976", "Hypertension, Pulmonary", 3, null],
  ["CHEMBL1487", "D006937", "Hypercholesterolemia", 4, null],
  ["CHEMBL1487", "D003327", "Coronary Disease", 4, null],
  ["CHEMBL112", "D010146", "Pain", 4, "EFO:0003843"],
  ["CHEMBL112", "D005334", "Fever", 4, "HP:0001945"],
  ["CHEMBL113", "D001049", "Apnea", 4, null],
  ["CHEMBL1464", "D020246", "Venous Thrombosis", 4, null],
  ["CHEMBL1464", "D001281", "Atrial Fibrillation", 4, "EFO:0000275"],
  ["CHEMBL1464", "D011655", "Pulmonary Embolism", 4, null],
  ["CHEMBL192", "D007172", "Erectile Dysfunction", 4, null],
  ["CHEMBL192", "D006976", "Hypertension, Pulmonary", 4, null],
  ["CHEMBL1503", "D005764", "Gastroesophageal Reflux", 4, null],
  ["CHEMBL1503", "D004381", "Duodenal Ulcer", 4, null],
  ["CHEMBL1503", "D016481", "Helicobacter Infections", 4, null],
  ["CHEMBL939", "D002289", "Carcinoma, Non-Small-Cell Lung", 4, null],
];
// [indication index above, ref_type, ref_id]: pivotal trials (IRIS, IPASS, UKPDS 34).
const INDICATION_REFS: [number, string, string][] = [
  [10, "ClinicalTrials", "NCT00006343"],
  [10, "PubMed", "12637609"],
  [26, "PubMed", "19692680"],
  [9, "PubMed", "9742977"],
];

// [chembl_id, target tid, standard_type, pchembl_value, assay_type, data_validity_comment, potential_duplicate]
const ACTIVITIES: [string, number, string, number, "B" | "F", string | null, number][] = [
  ["CHEMBL941", 102, "IC50", 6.6, "B", null, 0],
  ["CHEMBL941", 102, "IC50", 7.0, "B", null, 0],
  ["CHEMBL941", 102, "IC50", 6.8, "F", null, 0],
  ["CHEMBL941", 103, "IC50", 6.9, "B", null, 0],
  ["CHEMBL939", 104, "IC50", 7.5, "B", null, 0],
  ["CHEMBL939", 104, "IC50", 8.0, "B", null, 0],
  ["CHEMBL939", 104, "IC50", 11.9, "B", "Outside typical range", 0],
  ["CHEMBL1487", 105, "IC50", 8.1, "B", null, 0],
  ["CHEMBL192", 106, "IC50", 8.46, "B", null, 0],
  ["CHEMBL192", 106, "IC50", 8.46, "B", null, 1],
  ["CHEMBL113", 110, "Ki", 4.9, "B", null, 0],
  ["CHEMBL113", 109, "Ki", 5.4, "B", null, 0],
  ["CHEMBL25", 107, "IC50", 5.0, "B", null, 0],
  ["CHEMBL521", 107, "IC50", 5.3, "B", null, 0],
  ["CHEMBL521", 108, "IC50", 4.5, "B", null, 0],
];

function main(): void {
  mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  const db = new Database(tmp);
  db.exec(DDL);
  const molregno = new Map(MOLECULES.map((m) => [m[1], m[0]]));
  const mol = (id: string) => {
    const r = molregno.get(id);
    if (r === undefined) throw new Error(`unknown molecule ${id}`);
    return r;
  };
  db.transaction(() => {
    db.prepare("INSERT INTO version VALUES (?, ?, ?)").run(
      "medtune-sample",
      "2025-01-01",
      "Hand-made sample in the ChEMBL 33 schema, not a ChEMBL release: properties computed with RDKit, " +
        "mechanisms/indications from public pharmacology, potencies approximate literature values. See data/raw/chembl/README.md.",
    );
    const insMol = db.prepare(
      `INSERT INTO molecule_dictionary (molregno, pref_name, chembl_id, max_phase, therapeutic_flag, dosed_ingredient,
        structure_type, molecule_type, first_approval, oral, parenteral, topical, black_box_warning, first_in_class,
        chirality, prodrug, inorganic_flag, withdrawn_flag, chemical_probe, natural_product)
       VALUES (?, ?, ?, ?, 1, 1, 'MOL', 'Small molecule', ?, ?, ?, ?, 0, 0, -1, 0, 0, 0, 0, 0)`,
    );
    for (const [id, chembl, name, phase, approval, oral, par, top] of MOLECULES)
      insMol.run(id, name, chembl, phase, approval, oral, par, top);
    const insProp = db.prepare(
      `INSERT INTO compound_properties (molregno, mw_freebase, alogp, hba, hbd, psa, rtb, num_ro5_violations, qed_weighted,
        aromatic_rings, heavy_atoms, full_molformula, mw_monoisotopic, hba_lipinski, hbd_lipinski, full_mwt)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const [chembl, p] of Object.entries(PROPERTIES)) {
      const [mw, alogp, hba, hbd, psa, rtb, ro5, qed, arom, heavy, formula, mono] = p;
      insProp.run(
        mol(chembl),
        mw,
        alogp,
        hba,
        hbd,
        psa,
        rtb,
        ro5,
        qed,
        arom,
        heavy,
        formula,
        mono,
        hba,
        hbd,
        mw,
      );
    }
    const insTarget = db.prepare(
      "INSERT INTO target_dictionary VALUES (?, ?, ?, 9606, 'Homo sapiens', ?, 0)",
    );
    for (const [tid, chembl, name, type] of TARGETS) insTarget.run(tid, type, name, chembl);
    const insAction = db.prepare("INSERT INTO action_type VALUES (?, ?, ?)");
    insAction.run(
      "INHIBITOR",
      "Negatively effects (inhibits) the normal functioning of the protein",
      "NEGATIVE MODULATOR",
    );
    insAction.run(
      "ANTAGONIST",
      "Binds to a receptor and prevents activation by an agonist",
      "NEGATIVE MODULATOR",
    );
    const insMec = db.prepare(
      "INSERT INTO drug_mechanism (mec_id, record_id, molregno, mechanism_of_action, tid, action_type, direct_interaction, molecular_mechanism, disease_efficacy) VALUES (?, ?, ?, ?, ?, ?, 1, 1, 1)",
    );
    for (const [mec, chembl, moa, tid, action] of MECHANISMS)
      insMec.run(mec, 5000 + mec, mol(chembl), moa, tid, action);
    const insMecRef = db.prepare("INSERT INTO mechanism_refs VALUES (?, ?, ?, ?, ?)");
    MECHANISM_REFS.forEach(([mec, type, id], k) =>
      insMecRef.run(
        k + 1,
        mec,
        type,
        id,
        type === "PubMed" ? `http://europepmc.org/abstract/MED/${id}` : null,
      ),
    );
    const insInd = db.prepare("INSERT INTO drug_indication VALUES (?, ?, ?, ?, ?, ?, ?, NULL)");
    INDICATIONS.forEach(([chembl, meshId, heading, phase, efo], k) =>
      insInd.run(100 + k, 6000 + mol(chembl), mol(chembl), phase, meshId, heading, efo),
    );
    const insIndRef = db.prepare("INSERT INTO indication_refs VALUES (?, ?, ?, ?, ?)");
    INDICATION_REFS.forEach(([k, type, id], n) =>
      insIndRef.run(
        n + 1,
        100 + k,
        type,
        id,
        type === "PubMed"
          ? `http://europepmc.org/abstract/MED/${id}`
          : `https://clinicaltrials.gov/search?id=${id}`,
      ),
    );
    db.prepare(
      "INSERT INTO docs (doc_id, chembl_id, title, doc_type, ridx, src_id, year) VALUES (1, 'SAMPLE-DOC-1', 'medtune sample: approximate literature potencies (no single source document)', 'DATASET', 'medtune-sample', 0, NULL)",
    ).run();
    const insAssay = db.prepare(
      "INSERT INTO assays (assay_id, doc_id, description, assay_type, tid, relationship_type, confidence_score, src_id, chembl_id, aidx, assay_organism, assay_tax_id) VALUES (?, 1, ?, ?, ?, 'D', 9, 0, ?, 'medtune-sample', 'Homo sapiens', 9606)",
    );
    const insAct = db.prepare(
      `INSERT INTO activities (activity_id, assay_id, doc_id, record_id, molregno, standard_relation, standard_value,
        standard_units, standard_type, data_validity_comment, potential_duplicate, pchembl_value, type)
       VALUES (?, ?, 1, ?, ?, '=', ?, 'nM', ?, ?, ?, ?, ?)`,
    );
    ACTIVITIES.forEach(([chembl, tid, type, p, assayType, validity, dup], k) => {
      const assayId = 900 + k;
      const target = TARGETS.find((t) => t[0] === tid)!;
      insAssay.run(
        assayId,
        `${type} against ${target[2]} (sample)`,
        assayType,
        tid,
        `SAMPLE-ASSAY-${k + 1}`,
      );
      const nm = Number((10 ** (9 - p)).toPrecision(3));
      insAct.run(k + 1, assayId, 7000 + k, mol(chembl), nm, type, validity, dup, p, type);
    });
  })();
  db.close();
  rmSync(out, { force: true });
  renameSync(tmp, out);
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
}

main();
