"""Names the sky catalog adds to OpenNGC: popular names, object types, constellations. Data only.

OpenNGC has common names for about 150 objects; astrophotographers use many more
(`Heart Nebula`, `Pacman`, `Witch Head`). Each entry here names the designation
people use for the object (IC 2118, though OpenNGC files it as NGC 1909).
"""

from __future__ import annotations

# designation -> popular names (the first is shown as the common name when OpenNGC has none)
POPULAR_NAMES: dict[str, tuple[str, ...]] = {
    "IC 1805": ("Heart Nebula",),
    "IC 1848": ("Soul Nebula",),
    "NGC 281": ("Pacman Nebula", "Pac-Man Nebula"),
    "IC 2118": ("Witch Head Nebula",),
    "IC 1396": ("Elephant's Trunk Nebula",),
    "IC 443": ("Jellyfish Nebula",),
    "IC 410": ("Tadpoles Nebula", "Tadpole Nebula"),
    "IC 417": ("Spider Nebula",),
    "NGC 7380": ("Wizard Nebula",),
    "NGC 2024": ("Flame Nebula",),
    "NGC 2237": ("Rosette Nebula",),
    "NGC 2264": ("Cone Nebula",),
    "IC 63": ("Ghost of Cassiopeia",),
    "IC 2177": ("Seagull Nebula",),
    "NGC 2359": ("Thor's Helmet",),
    "NGC 6979": ("Pickering's Triangle",),
    "IC 1795": ("Fish Head Nebula",),
    "IC 4628": ("Prawn Nebula",),
    "NGC 6334": ("Cat's Paw Nebula",),
    "NGC 1333": ("Embryo Nebula",),
    "NGC 253": ("Sculptor Galaxy", "Silver Dollar Galaxy"),
    "M101": ("Pinwheel Galaxy",),
    "M45": ("Pleiades", "Seven Sisters"),
    "M42": ("Orion Nebula", "Great Orion Nebula"),
    "M17": ("Omega Nebula", "Swan Nebula"),
}

# OpenNGC type codes -> what a page says
TYPES: dict[str, str] = {
    "*": "Star", "**": "Double star", "*Ass": "Association of stars", "OCl": "Open cluster",
    "GCl": "Globular cluster", "Cl+N": "Star cluster and nebula", "G": "Galaxy", "GPair": "Galaxy pair",
    "GTrpl": "Galaxy triplet", "GGroup": "Group of galaxies", "PN": "Planetary nebula",
    "HII": "HII region", "DrkN": "Dark nebula", "EmN": "Emission nebula", "Neb": "Nebula",
    "RfN": "Reflection nebula", "SNR": "Supernova remnant", "Nova": "Nova", "NonEx": "Nonexistent object",
    "Other": "Other", "Dup": "Duplicate record",
}

# IAU abbreviations -> names
CONSTELLATIONS: dict[str, str] = {
    "And": "Andromeda", "Ant": "Antlia", "Aps": "Apus", "Aqr": "Aquarius", "Aql": "Aquila", "Ara": "Ara",
    "Ari": "Aries", "Aur": "Auriga", "Boo": "Boötes", "Cae": "Caelum", "Cam": "Camelopardalis",
    "Cnc": "Cancer", "CVn": "Canes Venatici", "CMa": "Canis Major", "CMi": "Canis Minor",
    "Cap": "Capricornus", "Car": "Carina", "Cas": "Cassiopeia", "Cen": "Centaurus", "Cep": "Cepheus",
    "Cet": "Cetus", "Cha": "Chamaeleon", "Cir": "Circinus", "Col": "Columba", "Com": "Coma Berenices",
    "CrA": "Corona Australis", "CrB": "Corona Borealis", "Crv": "Corvus", "Crt": "Crater", "Cru": "Crux",
    "Cyg": "Cygnus", "Del": "Delphinus", "Dor": "Dorado", "Dra": "Draco", "Equ": "Equuleus",
    "Eri": "Eridanus", "For": "Fornax", "Gem": "Gemini", "Gru": "Grus", "Her": "Hercules",
    "Hor": "Horologium", "Hya": "Hydra", "Hyi": "Hydrus", "Ind": "Indus", "Lac": "Lacerta", "Leo": "Leo",
    "LMi": "Leo Minor", "Lep": "Lepus", "Lib": "Libra", "Lup": "Lupus", "Lyn": "Lynx", "Lyr": "Lyra",
    "Men": "Mensa", "Mic": "Microscopium", "Mon": "Monoceros", "Mus": "Musca", "Nor": "Norma",
    "Oct": "Octans", "Oph": "Ophiuchus", "Ori": "Orion", "Pav": "Pavo", "Peg": "Pegasus", "Per": "Perseus",
    "Phe": "Phoenix", "Pic": "Pictor", "Psc": "Pisces", "PsA": "Piscis Austrinus", "Pup": "Puppis",
    "Pyx": "Pyxis", "Ret": "Reticulum", "Sge": "Sagitta", "Sgr": "Sagittarius", "Sco": "Scorpius",
    "Scl": "Sculptor", "Sct": "Scutum", "Ser": "Serpens", "Sex": "Sextans", "Tau": "Taurus",
    "Tel": "Telescopium", "Tri": "Triangulum", "TrA": "Triangulum Australe", "Tuc": "Tucana",
    "UMa": "Ursa Major", "UMi": "Ursa Minor", "Vel": "Vela", "Vir": "Virgo", "Vol": "Volans",
    "Vul": "Vulpecula",
}

# words a common name may leave off ("Heart" for the Heart Nebula)
GENERIC_WORDS = ("nebula", "galaxy", "cluster", "star cluster", "globular cluster", "complex")
