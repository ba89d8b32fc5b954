/**
 * Writes the bundled PubMed sample in the real distribution format (PubmedArticleSet XML, gzip):
 *   data/raw/pubmed/baseline/pubmed25n0001.xml.gz     landmark trials and reviews, 2 retracted papers
 *   data/raw/pubmed/updatefiles/pubmed25n1275.xml.gz  one revised record, one new one, a DeleteCitation
 *
 *   npx tsx scripts/make-sample-pubmed.mts
 *
 * PMIDs, titles, journals, years, DOIs and publication types are the real public metadata of
 * well-known papers; the abstracts are short paraphrases written for this sample (not NLM's text),
 * keeping the structured-abstract labels and the headline numbers of each report. The DeleteCitation
 * of 21714641 is a demonstration of the mechanism, not a real NLM deletion (see data/raw/pubmed/README.md).
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

interface Paper {
  pmid: string;
  title: string;
  journal: string;
  iso: string;
  year: number;
  doi?: string;
  types: string[];
  status?: "MEDLINE" | "PubMed-not-MEDLINE";
  /** [label, NlmCategory, text]; one entry with empty label = unstructured abstract. */
  abstract?: [string, string, string][];
  mesh?: [string, boolean][];
  retractionIn?: string;
  retractionOf?: string;
  revised?: string;
}

const RCT = ["Journal Article", "Randomized Controlled Trial"];
const MULTI = [...RCT, "Multicenter Study"];

const BASELINE: Paper[] = [
  {
    pmid: "32678530",
    title: "Dexamethasone in Hospitalized Patients with Covid-19.",
    journal: "The New England journal of medicine",
    iso: "N Engl J Med",
    year: 2021,
    doi: "10.1056/NEJMoa2021436",
    types: MULTI,
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "Glucocorticoids might limit the lung injury of coronavirus disease 2019 (Covid-19), but there was no randomized evidence for their use.",
      ],
      [
        "METHODS",
        "METHODS",
        "In the open-label RECOVERY platform trial, 2104 hospitalized patients were assigned to dexamethasone 6 mg daily for up to 10 days and 4321 to usual care alone; the primary outcome was death within 28 days.",
      ],
      [
        "RESULTS",
        "RESULTS",
        "Death within 28 days occurred in 22.9% of the dexamethasone group and 25.7% of the usual-care group (age-adjusted rate ratio 0.83; 95% CI 0.75 to 0.93). The benefit was largest in patients on invasive mechanical ventilation (29.3% vs. 41.4%) and present in those on oxygen alone (23.3% vs. 26.2%), with no benefit in patients receiving no respiratory support (17.8% vs. 14.0%).",
      ],
      [
        "CONCLUSIONS",
        "CONCLUSIONS",
        "Dexamethasone lowered 28-day mortality among hospitalized Covid-19 patients receiving invasive ventilation or oxygen, but not among those receiving no respiratory support.",
      ],
    ],
    mesh: [
      ["COVID-19 Drug Treatment", true],
      ["Dexamethasone", true],
      ["Glucocorticoids", false],
      ["Hospitalization", false],
      ["Humans", false],
      ["Respiration, Artificial", false],
    ],
  },
  {
    pmid: "12637609",
    title:
      "Imatinib compared with interferon and low-dose cytarabine for newly diagnosed chronic-phase chronic myeloid leukemia.",
    journal: "The New England journal of medicine",
    iso: "N Engl J Med",
    year: 2003,
    doi: "10.1056/NEJMoa022457",
    types: [...MULTI, "Clinical Trial, Phase III"],
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "Imatinib inhibits the BCR-ABL tyrosine kinase that drives chronic myeloid leukemia (CML); it had not been compared with the standard interferon-based therapy in untreated patients.",
      ],
      [
        "METHODS",
        "METHODS",
        "In the IRIS trial, 1106 patients with newly diagnosed chronic-phase CML were randomly assigned to imatinib 400 mg daily or interferon alfa plus low-dose cytarabine, with crossover allowed for intolerance or treatment failure.",
      ],
      [
        "RESULTS",
        "RESULTS",
        "At a median follow-up of 19 months, the estimated rate of major cytogenetic response at 18 months was 87.1% with imatinib and 34.7% with the combination, and complete cytogenetic responses were 76.2% and 14.5%. Freedom from progression to accelerated or blast phase at 18 months was 96.7% versus 91.5%, and imatinib was better tolerated.",
      ],
      [
        "CONCLUSIONS",
        "CONCLUSIONS",
        "Imatinib was superior to interferon alfa plus low-dose cytarabine as first-line therapy for chronic-phase CML in hematologic and cytogenetic response, tolerability and progression.",
      ],
    ],
    mesh: [
      ["Antineoplastic Agents", false],
      ["Imatinib Mesylate", false],
      ["Interferon-alpha", false],
      ["Cytarabine", false],
      ["Leukemia, Myelogenous, Chronic, BCR-ABL Positive", true],
      ["Humans", false],
    ],
  },
  {
    pmid: "11287972",
    title:
      "Efficacy and safety of a specific inhibitor of the BCR-ABL tyrosine kinase in chronic myeloid leukemia.",
    journal: "The New England journal of medicine",
    iso: "N Engl J Med",
    year: 2001,
    doi: "10.1056/NEJM200104053441401",
    types: ["Clinical Trial", "Clinical Trial, Phase I", "Journal Article"],
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "The BCR-ABL tyrosine kinase causes chronic myeloid leukemia, and STI571 (imatinib) inhibits it specifically in preclinical models.",
      ],
      [
        "METHODS",
        "METHODS",
        "In a phase 1 dose-escalation study, 83 patients with chronic-phase CML in whom interferon alfa had failed received oral STI571 once daily at doses from 25 to 1000 mg.",
      ],
      [
        "RESULTS",
        "RESULTS",
        "Complete hematologic responses occurred in 53 of 54 patients treated with 300 mg or more, usually within four weeks, and cytogenetic responses occurred in 29 of them. Adverse effects were mostly mild nausea, myalgia, edema and diarrhea, and no maximal tolerated dose was reached.",
      ],
      [
        "CONCLUSIONS",
        "CONCLUSIONS",
        "STI571 was well tolerated and highly active in CML after interferon failure, showing that a specific kinase inhibitor can target the molecular cause of a cancer.",
      ],
    ],
    mesh: [
      ["Antineoplastic Agents", false],
      ["Enzyme Inhibitors", false],
      ["Fusion Proteins, bcr-abl", true],
      ["Leukemia, Myelogenous, Chronic, BCR-ABL Positive", true],
      ["Humans", false],
    ],
  },
  {
    pmid: "9742977",
    title:
      "Effect of intensive blood-glucose control with metformin on complications in overweight patients with type 2 diabetes (UKPDS 34). UK Prospective Diabetes Study (UKPDS) Group.",
    journal: "Lancet (London, England)",
    iso: "Lancet",
    year: 1998,
    doi: "10.1016/S0140-6736(98)07037-8",
    types: [...MULTI, "Clinical Trial"],
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "Earlier UKPDS reports showed that intensive glucose control with sulphonylureas or insulin reduced microvascular complications; whether metformin helps overweight patients was unknown.",
      ],
      [
        "METHODS",
        "METHODS",
        "753 overweight patients with newly diagnosed type 2 diabetes were randomly allocated to conventional treatment, mainly diet (411), or intensive control with metformin (342), and followed for a median of 10.7 years.",
      ],
      [
        "FINDINGS",
        "RESULTS",
        "Compared with conventional treatment, metformin reduced the risk of any diabetes-related endpoint by 32%, diabetes-related death by 42% and all-cause mortality by 36%.",
      ],
      [
        "INTERPRETATION",
        "CONCLUSIONS",
        "Because intensive control with metformin lowers the risk of diabetes-related endpoints in overweight patients and causes less weight gain and fewer hypoglycaemic attacks than insulin or sulphonylureas, it may be the first-line pharmacological therapy for them.",
      ],
    ],
    mesh: [
      ["Diabetes Mellitus, Type 2", true],
      ["Hypoglycemic Agents", false],
      ["Metformin", true],
      ["Obesity", false],
      ["Humans", false],
    ],
  },
  {
    pmid: "11832527",
    title:
      "Reduction in the incidence of type 2 diabetes with lifestyle intervention or metformin.",
    journal: "The New England journal of medicine",
    iso: "N Engl J Med",
    year: 2002,
    doi: "10.1056/NEJMoa012512",
    types: MULTI,
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "Type 2 diabetes may be preventable in people at high risk by changing modifiable risk factors.",
      ],
      [
        "METHODS",
        "METHODS",
        "The Diabetes Prevention Program randomly assigned 3234 nondiabetic adults with elevated fasting and post-load glucose to placebo, metformin 850 mg twice daily, or an intensive lifestyle program aiming at 7% weight loss and 150 minutes of activity a week.",
      ],
      [
        "RESULTS",
        "RESULTS",
        "Over an average follow-up of 2.8 years, the lifestyle intervention reduced the incidence of diabetes by 58% and metformin by 31% compared with placebo; lifestyle was significantly more effective than metformin.",
      ],
      [
        "CONCLUSIONS",
        "CONCLUSIONS",
        "Lifestyle change and metformin both reduced the incidence of diabetes in high-risk persons, and lifestyle intervention was more effective than metformin.",
      ],
    ],
    mesh: [
      ["Diabetes Mellitus, Type 2", true],
      ["Exercise", false],
      ["Hypoglycemic Agents", false],
      ["Life Style", false],
      ["Metformin", true],
      ["Humans", false],
    ],
  },
  {
    pmid: "7968073",
    title:
      "Randomised trial of cholesterol lowering in 4444 patients with coronary heart disease: the Scandinavian Simvastatin Survival Study (4S).",
    journal: "Lancet (London, England)",
    iso: "Lancet",
    year: 1994,
    types: MULTI,
    abstract: [
      [
        "",
        "",
        "Whether lowering cholesterol improves survival in patients with coronary heart disease had not been shown. The 4S trial randomly assigned 4444 patients with angina pectoris or previous myocardial infarction and serum cholesterol of 5.5-8.0 mmol/L to simvastatin or placebo. Over a median follow-up of 5.4 years, 256 patients (12%) in the placebo group and 182 (8%) in the simvastatin group died, a relative risk of death of 0.70, mainly through fewer coronary deaths. Long-term simvastatin treatment improved survival in patients with coronary heart disease.",
      ],
    ],
    mesh: [
      ["Coronary Disease", true],
      ["Anticholesteremic Agents", false],
      ["Simvastatin", true],
      ["Hypercholesterolemia", false],
      ["Humans", false],
    ],
  },
  {
    pmid: "2899772",
    title:
      "Randomised trial of intravenous streptokinase, oral aspirin, both, or neither among 17,187 cases of suspected acute myocardial infarction: ISIS-2. ISIS-2 (Second International Study of Infarct Survival) Collaborative Group.",
    journal: "Lancet (London, England)",
    iso: "Lancet",
    year: 1988,
    types: [...MULTI, "Clinical Trial"],
    abstract: [
      [
        "",
        "",
        "In a factorial trial, 17,187 patients entering hospital within 24 hours of suspected acute myocardial infarction were randomly allocated to a one-hour infusion of streptokinase, one month of oral aspirin 160 mg daily, both, or neither. Streptokinase alone reduced five-week vascular mortality by about 25% and aspirin alone by about 23%, while the combination reduced it by about 42%, with benefits persisting over longer follow-up. Aspirin also reduced non-fatal reinfarction and stroke, and the combination added little bleeding risk.",
      ],
    ],
    mesh: [
      ["Aspirin", true],
      ["Myocardial Infarction", true],
      ["Streptokinase", true],
      ["Humans", false],
    ],
  },
  {
    pmid: "12117397",
    title:
      "Risks and benefits of estrogen plus progestin in healthy postmenopausal women: principal results From the Women's Health Initiative randomized controlled trial.",
    journal: "JAMA",
    iso: "JAMA",
    year: 2002,
    doi: "10.1001/jama.288.3.321",
    types: MULTI,
    abstract: [
      [
        "CONTEXT",
        "BACKGROUND",
        "Observational studies suggested that hormone therapy protects postmenopausal women against heart disease, but randomized evidence on its overall risks and benefits was lacking.",
      ],
      [
        "DESIGN, SETTING, AND PARTICIPANTS",
        "METHODS",
        "16,608 postmenopausal women aged 50 to 79 years with an intact uterus were enrolled at 40 US clinical centers and randomly assigned to conjugated equine estrogens plus medroxyprogesterone acetate or placebo.",
      ],
      [
        "RESULTS",
        "RESULTS",
        "The trial was stopped early after a mean 5.2 years because the risk of invasive breast cancer exceeded the stopping boundary and the global index showed harm. Hazard ratios were 1.29 for coronary heart disease, 1.26 for breast cancer, 1.41 for stroke and 2.13 for pulmonary embolism, against 0.63 for colorectal cancer and 0.66 for hip fracture.",
      ],
      [
        "CONCLUSIONS",
        "CONCLUSIONS",
        "Over about five years of use, the risks of estrogen plus progestin exceeded its benefits, and this regimen should not be started or continued for the primary prevention of coronary heart disease.",
      ],
    ],
    mesh: [
      ["Estrogen Replacement Therapy", true],
      ["Medroxyprogesterone Acetate", false],
      ["Postmenopause", false],
      ["Breast Neoplasms", false],
      ["Humans", false],
      ["Female", false],
    ],
  },
  {
    pmid: "33301246",
    title: "Safety and Efficacy of the BNT162b2 mRNA Covid-19 Vaccine.",
    journal: "The New England journal of medicine",
    iso: "N Engl J Med",
    year: 2020,
    doi: "10.1056/NEJMoa2034577",
    types: [...MULTI, "Clinical Trial, Phase II", "Clinical Trial, Phase III"],
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "Safe and effective vaccines against severe acute respiratory syndrome coronavirus 2 (SARS-CoV-2) were urgently needed; BNT162b2 is a lipid-nanoparticle mRNA vaccine encoding the prefusion spike protein.",
      ],
      [
        "METHODS",
        "METHODS",
        "In a multinational, placebo-controlled, observer-blinded trial, 43,548 participants aged 16 years or older were randomized to two doses of BNT162b2 30 microg or placebo 21 days apart; the primary end points were confirmed Covid-19 from 7 days after the second dose and safety.",
      ],
      [
        "RESULTS",
        "RESULTS",
        "Eight cases of Covid-19 occurred in vaccine recipients and 162 in placebo recipients, a vaccine efficacy of 95.0% (95% credible interval 90.3 to 97.6). Short-term mild-to-moderate injection-site pain, fatigue and headache were the most common reactions, and serious adverse events were rare and similar between groups.",
      ],
      [
        "CONCLUSIONS",
        "CONCLUSIONS",
        "A two-dose regimen of BNT162b2 gave 95% protection against Covid-19 in persons 16 years of age or older, with a safety profile over a median of 2 months similar to that of other viral vaccines.",
      ],
    ],
    mesh: [
      ["COVID-19", false],
      ["COVID-19 Vaccines", true],
      ["SARS-CoV-2", false],
      ["Vaccine Efficacy", false],
      ["Humans", false],
    ],
  },
  {
    pmid: "33378609",
    title: "Efficacy and Safety of the mRNA-1273 SARS-CoV-2 Vaccine.",
    journal: "The New England journal of medicine",
    iso: "N Engl J Med",
    year: 2021,
    doi: "10.1056/NEJMoa2035389",
    types: [...MULTI, "Clinical Trial, Phase III"],
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "Vaccines were needed to prevent coronavirus disease 2019 (Covid-19); mRNA-1273 encodes the stabilized prefusion SARS-CoV-2 spike protein.",
      ],
      [
        "METHODS",
        "METHODS",
        "In a phase 3 trial at 99 US sites, 30,420 volunteers at high risk of infection were randomized 1:1 to two intramuscular injections of mRNA-1273 100 microg or placebo 28 days apart.",
      ],
      [
        "RESULTS",
        "RESULTS",
        "Symptomatic Covid-19 was confirmed in 185 placebo recipients and 11 vaccine recipients, an efficacy of 94.1% (95% CI 89.3 to 96.8); severe Covid-19 occurred in 30 placebo recipients and none in the vaccine group. Transient local and systemic reactions were common, and serious adverse events were rare.",
      ],
      [
        "CONCLUSIONS",
        "CONCLUSIONS",
        "The mRNA-1273 vaccine showed 94.1% efficacy in preventing Covid-19 illness, including severe disease, without safety concerns apart from transient reactions.",
      ],
    ],
    mesh: [
      ["COVID-19 Vaccines", true],
      ["2019-nCoV Vaccine mRNA-1273", true],
      ["SARS-CoV-2", false],
      ["Humans", false],
    ],
  },
  {
    pmid: "26551272",
    title: "A Randomized Trial of Intensive versus Standard Blood-Pressure Control.",
    journal: "The New England journal of medicine",
    iso: "N Engl J Med",
    year: 2015,
    doi: "10.1056/NEJMoa1511939",
    types: MULTI,
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "The most appropriate systolic blood-pressure target for reducing cardiovascular morbidity and mortality in persons without diabetes was unclear.",
      ],
      [
        "METHODS",
        "METHODS",
        "SPRINT randomly assigned 9361 persons with systolic pressure of 130 mm Hg or higher and increased cardiovascular risk, but without diabetes, to a target below 120 mm Hg (intensive) or below 140 mm Hg (standard).",
      ],
      [
        "RESULTS",
        "RESULTS",
        "The trial was stopped early after a median follow-up of 3.26 years. The primary composite outcome occurred less often with intensive treatment (1.65% vs. 2.19% per year; hazard ratio 0.75; 95% CI 0.64 to 0.89), as did death from any cause (hazard ratio 0.73), while hypotension, syncope, electrolyte abnormalities and acute kidney injury were more frequent.",
      ],
      [
        "CONCLUSIONS",
        "CONCLUSIONS",
        "In patients at high cardiovascular risk without diabetes, targeting a systolic pressure below 120 mm Hg lowered fatal and nonfatal major cardiovascular events and death from any cause, at the cost of more adverse events.",
      ],
    ],
    mesh: [
      ["Antihypertensive Agents", false],
      ["Blood Pressure", false],
      ["Cardiovascular Diseases", false],
      ["Hypertension", true],
      ["Humans", false],
    ],
  },
  {
    pmid: "26378978",
    title: "Empagliflozin, Cardiovascular Outcomes, and Mortality in Type 2 Diabetes.",
    journal: "The New England journal of medicine",
    iso: "N Engl J Med",
    year: 2015,
    doi: "10.1056/NEJMoa1504720",
    types: MULTI,
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "The effects of empagliflozin, an inhibitor of sodium-glucose cotransporter 2, on cardiovascular morbidity and mortality in type 2 diabetes at high cardiovascular risk were not known.",
      ],
      [
        "METHODS",
        "METHODS",
        "7020 patients with type 2 diabetes and established cardiovascular disease were randomly assigned to empagliflozin 10 mg, empagliflozin 25 mg, or placebo once daily; the primary outcome was cardiovascular death, nonfatal myocardial infarction or nonfatal stroke.",
      ],
      [
        "RESULTS",
        "RESULTS",
        "The primary outcome occurred in 10.5% of the pooled empagliflozin group and 12.1% of the placebo group (hazard ratio 0.86; 95.02% CI 0.74 to 0.99). Empagliflozin lowered cardiovascular death (3.7% vs. 5.9%, a 38% relative risk reduction), hospitalization for heart failure and death from any cause; genital infections were more common.",
      ],
      [
        "CONCLUSIONS",
        "CONCLUSIONS",
        "Patients with type 2 diabetes at high cardiovascular risk who received empagliflozin in addition to standard care had fewer primary composite cardiovascular events and lower all-cause mortality.",
      ],
    ],
    mesh: [
      ["Benzhydryl Compounds", false],
      ["Cardiovascular Diseases", true],
      ["Diabetes Mellitus, Type 2", true],
      ["Glucosides", false],
      ["Sodium-Glucose Transporter 2 Inhibitors", false],
      ["Humans", false],
    ],
  },
  {
    pmid: "31535829",
    title: "Dapagliflozin in Patients with Heart Failure and Reduced Ejection Fraction.",
    journal: "The New England journal of medicine",
    iso: "N Engl J Med",
    year: 2019,
    doi: "10.1056/NEJMoa1911303",
    types: MULTI,
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "In patients with type 2 diabetes, SGLT2 inhibitors lower the risk of a first hospitalization for heart failure; their effect in heart failure with reduced ejection fraction, with or without diabetes, was unknown.",
      ],
      [
        "METHODS",
        "METHODS",
        "In the DAPA-HF trial, 4744 patients with New York Heart Association class II to IV heart failure and an ejection fraction of 40% or less were randomly assigned to dapagliflozin 10 mg once daily or placebo on top of recommended therapy.",
      ],
      [
        "RESULTS",
        "RESULTS",
        "Over a median of 18.2 months, worsening heart failure or cardiovascular death occurred in 16.3% of the dapagliflozin group and 21.2% of the placebo group (hazard ratio 0.74; 95% CI 0.65 to 0.85), with similar findings in patients with and without diabetes.",
      ],
      [
        "CONCLUSIONS",
        "CONCLUSIONS",
        "Among patients with heart failure and a reduced ejection fraction, dapagliflozin lowered the risk of worsening heart failure or death from cardiovascular causes, regardless of diabetes status.",
      ],
    ],
  },
  {
    pmid: "18997196",
    title:
      "Rosuvastatin to prevent vascular events in men and women with elevated C-reactive protein.",
    journal: "The New England journal of medicine",
    iso: "N Engl J Med",
    year: 2008,
    doi: "10.1056/NEJMoa0807646",
    types: MULTI,
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "Elevated high-sensitivity C-reactive protein predicts cardiovascular events, but whether statins benefit people with elevated levels and normal LDL cholesterol was unknown.",
      ],
      [
        "METHODS",
        "METHODS",
        "In the JUPITER trial, 17,802 apparently healthy men and women with LDL cholesterol below 130 mg/dL and high-sensitivity CRP of 2.0 mg/L or higher were randomly assigned to rosuvastatin 20 mg daily or placebo.",
      ],
      [
        "RESULTS",
        "RESULTS",
        "The trial was stopped after a median follow-up of 1.9 years. Rosuvastatin lowered LDL cholesterol by 50% and CRP by 37%, and the primary end point of first major cardiovascular event occurred at 0.77 versus 1.36 per 100 person-years (hazard ratio 0.56; 95% CI 0.46 to 0.69).",
      ],
      [
        "CONCLUSIONS",
        "CONCLUSIONS",
        "In apparently healthy persons without hyperlipidemia but with elevated high-sensitivity CRP, rosuvastatin significantly reduced the incidence of major cardiovascular events.",
      ],
    ],
    mesh: [
      ["C-Reactive Protein", true],
      ["Cardiovascular Diseases", true],
      ["Rosuvastatin Calcium", false],
      ["Hydroxymethylglutaryl-CoA Reductase Inhibitors", true],
      ["Humans", false],
    ],
  },
  {
    pmid: "19717844",
    title: "Dabigatran versus warfarin in patients with atrial fibrillation.",
    journal: "The New England journal of medicine",
    iso: "N Engl J Med",
    year: 2009,
    doi: "10.1056/NEJMoa0905561",
    types: MULTI,
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "Warfarin reduces stroke in atrial fibrillation but increases bleeding and is hard to manage; dabigatran is an oral direct thrombin inhibitor.",
      ],
      [
        "METHODS",
        "METHODS",
        "In the RE-LY noninferiority trial, 18,113 patients with atrial fibrillation and a risk of stroke were randomly assigned to fixed doses of dabigatran (110 mg or 150 mg twice daily, blinded) or open-label adjusted-dose warfarin, for a median of 2.0 years.",
      ],
      [
        "RESULTS",
        "RESULTS",
        "Stroke or systemic embolism occurred at 1.69% per year with warfarin, 1.53% with dabigatran 110 mg (noninferior) and 1.11% with dabigatran 150 mg (superior). Major bleeding was 3.36% per year with warfarin, 2.71% with 110 mg and 3.11% with 150 mg.",
      ],
      [
        "CONCLUSIONS",
        "CONCLUSIONS",
        "In atrial fibrillation, dabigatran 110 mg gave rates of stroke and systemic embolism similar to warfarin with less major bleeding, and dabigatran 150 mg gave lower rates with similar major bleeding.",
      ],
    ],
    mesh: [
      ["Anticoagulants", false],
      ["Atrial Fibrillation", true],
      ["Benzimidazoles", false],
      ["Stroke", false],
      ["Warfarin", false],
      ["Humans", false],
    ],
  },
  {
    pmid: "27718847",
    title: "Pembrolizumab versus Chemotherapy for PD-L1-Positive Non-Small-Cell Lung Cancer.",
    journal: "The New England journal of medicine",
    iso: "N Engl J Med",
    year: 2016,
    doi: "10.1056/NEJMoa1606774",
    types: [...MULTI, "Clinical Trial, Phase III"],
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "Pembrolizumab, an antibody against programmed death 1 (PD-1), is active in advanced non-small-cell lung cancer (NSCLC), especially when at least 50% of tumor cells express PD-L1.",
      ],
      [
        "METHODS",
        "METHODS",
        "In the open-label KEYNOTE-024 trial, 305 previously untreated patients with advanced NSCLC, PD-L1 expression on at least 50% of tumor cells and no EGFR or ALK alterations received pembrolizumab 200 mg every 3 weeks or the investigator's choice of platinum-based chemotherapy.",
      ],
      [
        "RESULTS",
        "RESULTS",
        "Median progression-free survival was 10.3 months with pembrolizumab and 6.0 months with chemotherapy (hazard ratio 0.50; 95% CI 0.37 to 0.68). Overall survival at 6 months was 80.2% versus 72.4%, and treatment-related adverse events of grade 3 or higher were less frequent with pembrolizumab (26.6% vs. 53.3%).",
      ],
      [
        "CONCLUSIONS",
        "CONCLUSIONS",
        "In advanced NSCLC with PD-L1 expression on at least 50% of tumor cells, pembrolizumab gave longer progression-free and overall survival and fewer adverse events than platinum-based chemotherapy.",
      ],
    ],
    mesh: [
      ["Antibodies, Monoclonal, Humanized", false],
      ["B7-H1 Antigen", false],
      ["Carcinoma, Non-Small-Cell Lung", true],
      ["Lung Neoplasms", true],
      ["Humans", false],
    ],
  },
  {
    pmid: "19692680",
    title: "Gefitinib or carboplatin-paclitaxel in pulmonary adenocarcinoma.",
    journal: "The New England journal of medicine",
    iso: "N Engl J Med",
    year: 2009,
    doi: "10.1056/NEJMoa0810699",
    types: [...MULTI, "Clinical Trial, Phase III"],
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "Previous nonrandomized studies showed that gefitinib, an EGFR tyrosine kinase inhibitor, is active in selected patients with non-small-cell lung cancer.",
      ],
      [
        "METHODS",
        "METHODS",
        "In the IPASS trial in East Asia, 1217 previously untreated patients with advanced pulmonary adenocarcinoma who were nonsmokers or former light smokers were randomly assigned to gefitinib 250 mg daily or carboplatin plus paclitaxel.",
      ],
      [
        "RESULTS",
        "RESULTS",
        "The 12-month progression-free survival rate was 24.9% with gefitinib and 6.7% with chemotherapy. In patients whose tumors had an EGFR mutation, progression-free survival was longer with gefitinib (hazard ratio 0.48), whereas in those without a mutation it was longer with chemotherapy (hazard ratio 2.85).",
      ],
      [
        "CONCLUSIONS",
        "CONCLUSIONS",
        "Gefitinib is superior to carboplatin-paclitaxel as initial treatment for pulmonary adenocarcinoma in nonsmokers or former light smokers in East Asia, and EGFR mutation status predicts which treatment benefits a patient.",
      ],
    ],
    mesh: [
      ["Adenocarcinoma", true],
      ["Antineoplastic Combined Chemotherapy Protocols", false],
      ["ErbB Receptors", false],
      ["Lung Neoplasms", true],
      ["Quinazolines", false],
      ["Humans", false],
    ],
  },
  {
    pmid: "21767103",
    title: "Prevention of HIV-1 infection with early antiretroviral therapy.",
    journal: "The New England journal of medicine",
    iso: "N Engl J Med",
    year: 2011,
    doi: "10.1056/NEJMoa1105243",
    types: MULTI,
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "Antiretroviral therapy lowers the viral load of people with HIV-1, which might reduce sexual transmission to their partners.",
      ],
      [
        "METHODS",
        "METHODS",
        "In the HPTN 052 trial, 1763 serodiscordant couples in nine countries, in which the infected partner had a CD4 count of 350 to 550 cells per cubic millimeter, were randomly assigned to immediate or delayed antiretroviral therapy.",
      ],
      [
        "RESULTS",
        "RESULTS",
        "Of 28 virologically linked transmissions, only one occurred in the early-therapy group (hazard ratio 0.04; 95% CI 0.01 to 0.27), a 96% reduction, and early therapy also reduced clinical events in the infected partners.",
      ],
      [
        "CONCLUSIONS",
        "CONCLUSIONS",
        "Early initiation of antiretroviral therapy reduced rates of sexual transmission of HIV-1 and clinical events, indicating both personal and public health benefits.",
      ],
    ],
    mesh: [
      ["Anti-HIV Agents", false],
      ["HIV Infections", true],
      ["HIV-1", false],
      ["Sexual Partners", false],
      ["Humans", false],
    ],
  },
  {
    pmid: "21714641",
    title: "Reduced lung-cancer mortality with low-dose computed tomographic screening.",
    journal: "The New England journal of medicine",
    iso: "N Engl J Med",
    year: 2011,
    doi: "10.1056/NEJMoa1102873",
    types: MULTI,
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "The high incidence of lung cancer and its poor prognosis when found late motivated screening trials with low-dose helical computed tomography (CT).",
      ],
      [
        "METHODS",
        "METHODS",
        "The National Lung Screening Trial randomly assigned 53,454 persons at high risk for lung cancer to three annual screenings with low-dose CT or single-view chest radiography.",
      ],
      [
        "RESULTS",
        "RESULTS",
        "Lung-cancer mortality was 247 versus 309 deaths per 100,000 person-years, a relative reduction of 20.0% with low-dose CT, and death from any cause was reduced by 6.7%.",
      ],
      [
        "CONCLUSIONS",
        "CONCLUSIONS",
        "Screening with low-dose CT reduces mortality from lung cancer.",
      ],
    ],
    mesh: [
      ["Lung Neoplasms", true],
      ["Mass Screening", true],
      ["Tomography, X-Ray Computed", false],
      ["Humans", false],
    ],
  },
  {
    pmid: "21376230",
    title: "Hallmarks of cancer: the next generation.",
    journal: "Cell",
    iso: "Cell",
    year: 2011,
    doi: "10.1016/j.cell.2011.02.013",
    types: ["Journal Article", "Review"],
    abstract: [
      [
        "",
        "",
        "This review extends the original six hallmarks of cancer, the capabilities that tumors acquire during multistep development, by adding reprogramming of energy metabolism and evasion of immune destruction. Genome instability and tumor-promoting inflammation are presented as enabling characteristics, and the tumor microenvironment of recruited normal cells is described as a contributor to the hallmark traits. The authors argue that these concepts will shape the development of new cancer treatments.",
      ],
    ],
    mesh: [
      ["Neoplasms", true],
      ["Tumor Microenvironment", false],
      ["Humans", false],
      ["Animals", false],
    ],
  },
  {
    pmid: "9500320",
    title:
      "Ileal-lymphoid-nodular hyperplasia, non-specific colitis, and pervasive developmental disorder in children.",
    journal: "Lancet (London, England)",
    iso: "Lancet",
    year: 1998,
    doi: "10.1016/s0140-6736(97)11096-0",
    types: ["Case Reports", "Journal Article", "Retracted Publication"],
    abstract: [
      [
        "",
        "",
        "This case series of 12 children with developmental regression and gastrointestinal symptoms claimed an association with measles, mumps and rubella vaccination. The paper was retracted by the journal in 2010 (sample paraphrase; included to test that retracted publications are skipped).",
      ],
    ],
    retractionIn: "20137807",
  },
  {
    pmid: "32450107",
    title:
      "Hydroxychloroquine or chloroquine with or without a macrolide for treatment of COVID-19: a multinational registry analysis.",
    journal: "Lancet (London, England)",
    iso: "Lancet",
    year: 2020,
    doi: "10.1016/S0140-6736(20)31180-6",
    types: ["Journal Article"],
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "The paper reported a registry analysis of hydroxychloroquine or chloroquine in hospitalized COVID-19 patients.",
      ],
      [
        "METHODS",
        "METHODS",
        "It claimed data from a multinational registry whose existence could not be verified.",
      ],
      [
        "FINDINGS",
        "RESULTS",
        "It reported higher in-hospital mortality with the drugs (sample paraphrase; the record is marked retracted only through CommentsCorrections RetractionIn).",
      ],
      ["INTERPRETATION", "CONCLUSIONS", "The authors retracted the paper in June 2020."],
    ],
    retractionIn: "32511943",
  },
  {
    pmid: "20137807",
    title:
      "Retraction--Ileal-lymphoid-nodular hyperplasia, non-specific colitis, and pervasive developmental disorder in children.",
    journal: "Lancet (London, England)",
    iso: "Lancet",
    year: 2010,
    doi: "10.1016/S0140-6736(10)60175-4",
    types: ["Retraction of Publication"],
    retractionOf: "9500320",
  },
];

const UPDATE: Paper[] = [
  {
    // A revision of a baseline record: MeSH indexing added. The later file wins.
    ...BASELINE.find((p) => p.pmid === "31535829")!,
    revised: "2025-01-15",
    mesh: [
      ["Heart Failure", true],
      ["Sodium-Glucose Transporter 2 Inhibitors", true],
      ["Benzhydryl Compounds", false],
      ["Glucosides", false],
      ["Stroke Volume", false],
      ["Humans", false],
    ],
  },
  {
    pmid: "37952131",
    title: "Semaglutide and Cardiovascular Outcomes in Obesity without Diabetes.",
    journal: "The New England journal of medicine",
    iso: "N Engl J Med",
    year: 2023,
    doi: "10.1056/NEJMoa2307563",
    types: MULTI,
    abstract: [
      [
        "BACKGROUND",
        "BACKGROUND",
        "Semaglutide, a glucagon-like peptide-1 receptor agonist, lowers cardiovascular risk in diabetes; its effect in overweight or obesity without diabetes was unknown.",
      ],
      [
        "METHODS",
        "METHODS",
        "In the SELECT trial, 17,604 patients aged 45 years or older with preexisting cardiovascular disease and a body-mass index of 27 or more, but no diabetes, were randomized to weekly subcutaneous semaglutide 2.4 mg or placebo.",
      ],
      [
        "RESULTS",
        "RESULTS",
        "Over a mean of 39.8 months, cardiovascular death, nonfatal myocardial infarction or nonfatal stroke occurred in 6.5% of the semaglutide group and 8.0% of the placebo group (hazard ratio 0.80; 95% CI 0.72 to 0.90). Adverse events leading to discontinuation were more frequent with semaglutide.",
      ],
      [
        "CONCLUSIONS",
        "CONCLUSIONS",
        "In patients with cardiovascular disease and overweight or obesity without diabetes, weekly semaglutide 2.4 mg reduced major adverse cardiovascular events.",
      ],
    ],
    mesh: [
      ["Cardiovascular Diseases", true],
      ["Glucagon-Like Peptides", false],
      ["Obesity", true],
      ["Humans", false],
    ],
  },
];
const UPDATE_DELETES = ["21714641", "30000001"];

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function article(p: Paper): string {
  const abs = p.abstract
    ? `<Abstract>${p.abstract
        .map(([label, cat, text]) =>
          label
            ? `<AbstractText Label="${esc(label)}" NlmCategory="${cat}">${esc(text)}</AbstractText>`
            : `<AbstractText>${esc(text)}</AbstractText>`,
        )
        .join("")}</Abstract>`
    : "";
  const types = p.types
    .map((t) => `<PublicationType UI="${PUB_TYPE_UI[t] ?? "D016428"}">${esc(t)}</PublicationType>`)
    .join("");
  const corrections = [
    p.retractionIn
      ? `<CommentsCorrections RefType="RetractionIn"><RefSource>Lancet. ${p.pmid === "9500320" ? "2010" : "2020"}</RefSource><PMID Version="1">${p.retractionIn}</PMID></CommentsCorrections>`
      : "",
    p.retractionOf
      ? `<CommentsCorrections RefType="RetractionOf"><RefSource>Lancet. 1998</RefSource><PMID Version="1">${p.retractionOf}</PMID></CommentsCorrections>`
      : "",
  ].join("");
  const mesh = p.mesh
    ? `<MeshHeadingList>${p.mesh.map(([d, major]) => `<MeshHeading><DescriptorName MajorTopicYN="${major ? "Y" : "N"}">${esc(d)}</DescriptorName></MeshHeading>`).join("")}</MeshHeadingList>`
    : "";
  const [ry, rm, rd] = (p.revised ?? "2024-12-01").split("-");
  return (
    `<PubmedArticle><MedlineCitation Status="${p.status ?? "MEDLINE"}" Owner="NLM" IndexingMethod="Manual"><PMID Version="1">${p.pmid}</PMID>` +
    `<DateRevised><Year>${ry}</Year><Month>${rm}</Month><Day>${rd}</Day></DateRevised>` +
    `<Article PubModel="Print"><Journal><JournalIssue CitedMedium="Internet"><PubDate><Year>${p.year}</Year></PubDate></JournalIssue><Title>${esc(p.journal)}</Title><ISOAbbreviation>${esc(p.iso)}</ISOAbbreviation></Journal>` +
    `<ArticleTitle>${esc(p.title)}</ArticleTitle>${p.doi ? `<ELocationID EIdType="doi" ValidYN="Y">${esc(p.doi)}</ELocationID>` : ""}${abs}` +
    `<Language>eng</Language><PublicationTypeList>${types}</PublicationTypeList></Article>` +
    `<MedlineJournalInfo><MedlineTA>${esc(p.iso)}</MedlineTA></MedlineJournalInfo>` +
    `${corrections ? `<CommentsCorrectionsList>${corrections}</CommentsCorrectionsList>` : ""}${mesh}</MedlineCitation>` +
    `<PubmedData><PublicationStatus>ppublish</PublicationStatus><ArticleIdList><ArticleId IdType="pubmed">${p.pmid}</ArticleId>${p.doi ? `<ArticleId IdType="doi">${esc(p.doi)}</ArticleId>` : ""}</ArticleIdList></PubmedData></PubmedArticle>`
  );
}

const PUB_TYPE_UI: Record<string, string> = {
  "Journal Article": "D016428",
  "Randomized Controlled Trial": "D016449",
  "Multicenter Study": "D016448",
  Review: "D016454",
  "Clinical Trial": "D016430",
  "Clinical Trial, Phase I": "D017426",
  "Clinical Trial, Phase II": "D017427",
  "Clinical Trial, Phase III": "D017428",
  "Case Reports": "D002363",
  "Retracted Publication": "D016441",
  "Retraction of Publication": "D016440",
};

function fileText(papers: Paper[], deletes: string[] = []): string {
  const head =
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>\n';
  const del = deletes.length
    ? `<DeleteCitation>${deletes.map((d) => `<PMID Version="1">${d}</PMID>`).join("")}</DeleteCitation>\n`
    : "";
  return `${head}${papers.map(article).join("\n")}\n${del}</PubmedArticleSet>\n`;
}

function write(rel: string, text: string): void {
  const out = path.join(root, rel);
  mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  // mtime 0 in the gzip header keeps the output byte-identical across runs.
  writeFileSync(tmp, gzipSync(Buffer.from(text, "utf8"), { level: 9 }));
  renameSync(tmp, out);
  console.log(`wrote ${rel}`);
}

write("data/raw/pubmed/baseline/pubmed25n0001.xml.gz", fileText(BASELINE));
write("data/raw/pubmed/updatefiles/pubmed25n1275.xml.gz", fileText(UPDATE, UPDATE_DELETES));
