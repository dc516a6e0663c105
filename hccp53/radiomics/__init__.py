"""The radiomics model: pyradiomics features of each phase inside the tumor mask, selection and a score."""
